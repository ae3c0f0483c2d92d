package io.stomprelay.system;

import java.io.IOException;

import io.stomprelay.connection.HttpBearerTokenResolver;
import io.stomprelay.connection.TokenVerifier;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.web.SecurityFilterChain;

/**
 * HTTP security: the push API needs a JWT with role {@code admin}; the WebSocket endpoint, the
 * demo page, the demo token endpoint and the actuator are open at the HTTP level. STOMP sessions
 * authenticate on CONNECT only: a bearer token on the {@code /ws} upgrade request is ignored
 * ({@link HttpBearerTokenResolver}). Stateless, no cookies, so no CSRF. Failures answer with
 * problem details.
 */
@Configuration(proxyBeanMethods = false)
class HttpSecurityConfiguration {

	@Bean
	SecurityFilterChain httpSecurity(HttpSecurity http, TokenVerifier verifier) {
		http.authorizeHttpRequests(requests -> requests
				.requestMatchers("/api/messages/**").hasRole("admin")
				.anyRequest().permitAll())
			.oauth2ResourceServer(resourceServer -> resourceServer
				.bearerTokenResolver(new HttpBearerTokenResolver())
				.jwt(jwt -> jwt.decoder(verifier.decoder()).jwtAuthenticationConverter(verifier.authenticationConverter()))
				.authenticationEntryPoint((request, response, ex) -> problem(response, HttpStatus.UNAUTHORIZED,
						"A valid bearer token with role admin is required."))
				.accessDeniedHandler((request, response, ex) -> problem(response, HttpStatus.FORBIDDEN,
						"The token lacks role admin.")))
			.exceptionHandling(exceptions -> exceptions
				.authenticationEntryPoint((request, response, ex) -> problem(response, HttpStatus.UNAUTHORIZED,
						"A valid bearer token with role admin is required."))
				.accessDeniedHandler((request, response, ex) -> problem(response, HttpStatus.FORBIDDEN,
						"The token lacks role admin.")))
			.csrf(csrf -> csrf.disable())
			.sessionManagement(sessions -> sessions.sessionCreationPolicy(SessionCreationPolicy.STATELESS));
		return http.build();
	}

	private static void problem(HttpServletResponse response, HttpStatus status, String detail) throws IOException {
		response.setStatus(status.value());
		response.setContentType(MediaType.APPLICATION_PROBLEM_JSON_VALUE);
		response.setCharacterEncoding("UTF-8");
		if (status == HttpStatus.UNAUTHORIZED) {
			response.setHeader("WWW-Authenticate", "Bearer");
		}
		response.getWriter().write("{\"type\":\"about:blank\",\"title\":\"" + status.getReasonPhrase() + "\",\"status\":"
				+ status.value() + ",\"detail\":\"" + detail + "\"}");
	}

}
