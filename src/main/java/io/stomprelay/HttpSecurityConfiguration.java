package io.stomprelay;

import java.io.IOException;
import java.util.List;

import io.stomprelay.connection.HttpBearerTokenResolver;
import io.stomprelay.connection.TokenVerifier;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.core.OAuth2ErrorCodes;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtValidationException;
import org.springframework.security.web.SecurityFilterChain;

/**
 * HTTP security: the push API (and the benchmark publisher, when enabled) needs a JWT with role
 * {@code admin} and an {@code exp} claim; the WebSocket endpoint, the demo page, the demo token endpoint and the actuator are open at the HTTP
 * level. STOMP sessions authenticate on CONNECT only: a bearer token on the {@code /ws} upgrade
 * request is ignored ({@link HttpBearerTokenResolver}). Stateless, no cookies, so no CSRF. Failures
 * answer with problem details.
 */
@Configuration(proxyBeanMethods = false)
class HttpSecurityConfiguration {

	private static final String NO_EXPIRY = "The token has no exp claim";

	@Bean
	SecurityFilterChain httpSecurity(HttpSecurity http, TokenVerifier verifier) {
		http.authorizeHttpRequests(requests -> requests
				.requestMatchers("/api/messages/**", "/api/loadtest/**").hasRole("admin")
				.anyRequest().permitAll())
			.oauth2ResourceServer(resourceServer -> resourceServer
				.bearerTokenResolver(new HttpBearerTokenResolver())
				.jwt(jwt -> jwt.decoder(requiringExpiry(verifier.decoder()))
					.jwtAuthenticationConverter(verifier.authenticationConverter()))
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

	/**
	 * The HTTP decoder: the STOMP verifier's, and the token must carry {@code exp}. A STOMP session
	 * whose token has none still ends after {@code stomp-relay.auth.max-session-age}; an HTTP request
	 * has no such end, so such a token would be accepted forever.
	 */
	static JwtDecoder requiringExpiry(JwtDecoder decoder) {
		return token -> {
			Jwt jwt = decoder.decode(token);
			if (jwt.getExpiresAt() == null) {
				throw new JwtValidationException(NO_EXPIRY,
						List.of(new OAuth2Error(OAuth2ErrorCodes.INVALID_TOKEN, NO_EXPIRY, null)));
			}
			return jwt;
		};
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
