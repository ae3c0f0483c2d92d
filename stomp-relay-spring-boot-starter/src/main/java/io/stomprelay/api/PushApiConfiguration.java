package io.stomprelay.api;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

import jakarta.servlet.http.HttpServletResponse;

import io.stomprelay.connection.HttpBearerTokenResolver;
import io.stomprelay.connection.TokenVerifier;
import io.stomprelay.system.StompRelayProperties;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.security.config.annotation.web.builders.HttpSecurity;
import org.springframework.security.config.http.SessionCreationPolicy;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.core.OAuth2ErrorCodes;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtValidationException;
import org.springframework.security.web.AuthenticationEntryPoint;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.access.AccessDeniedHandler;

/**
 * The HTTP push API ({@link MessagePushController}) and, with {@code stomp-relay.presence.enabled},
 * the presence API ({@link PresenceController}), on with {@code stomp-relay.api.enabled=true} (and
 * JWT authentication, {@code stomp-relay.auth.enabled}): their paths, always, and any other listed
 * in {@code stomp-relay.api.protected-paths}, need a JWT with role {@code admin} and an {@code exp}
 * claim. Paths in {@code stomp-relay.api.open-paths} stay open but read an admin token when one is
 * sent (e.g. {@code /actuator/**}, for health details "when authorized"). This security filter chain
 * covers those paths only; every other path of the application is left as it was. STOMP sessions authenticate on CONNECT only: a bearer token on the WebSocket
 * upgrade request is ignored ({@link HttpBearerTokenResolver}). Stateless, no cookies, so no CSRF.
 * Failures answer with problem details.
 */
@AutoConfiguration(afterName = "io.stomprelay.connection.JwtVerifierConfiguration",
		beforeName = "org.springframework.boot.security.autoconfigure.web.servlet.ServletWebSecurityAutoConfiguration")
@ConditionalOnClass(SecurityFilterChain.class)
@ConditionalOnProperty(name = "stomp-relay.api.enabled", havingValue = "true")
@Import(MessagePushController.class)
class PushApiConfiguration {

	/** The presence endpoints, with {@code stomp-relay.presence.enabled=true} and the relay on. */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnProperty(name = "stomp-relay.presence.enabled", havingValue = "true")
	@ConditionalOnProperty(name = "stomp-relay.relay.enabled", havingValue = "true", matchIfMissing = true)
	@Import(PresenceController.class)
	static class PresenceApi {

	}

	private static final String NO_EXPIRY = "The token has no exp claim";

	/** Both for the bearer-token filter and for requests that come without a token. */
	private static final AuthenticationEntryPoint UNAUTHORIZED = (request, response, ex) -> problem(response,
			HttpStatus.UNAUTHORIZED, "A valid bearer token with role admin is required.");

	private static final AccessDeniedHandler FORBIDDEN = (request, response, ex) -> problem(response,
			HttpStatus.FORBIDDEN, "The token lacks role admin.");

	/** The push API's paths: protected whatever {@code protected-paths} says. */
	private static final List<String> PUSH_PATHS = List.of("/api/messages/**");

	/** The presence API's paths, protected whatever {@code protected-paths} says while presence is on. */
	private static final List<String> PRESENCE_PATHS = List.of("/api/users/**", "/api/presence");

	@Bean
	SecurityFilterChain pushApiSecurity(HttpSecurity http, TokenVerifier verifier, StompRelayProperties properties) {
		Set<String> guarded = new LinkedHashSet<>(PUSH_PATHS);
		if (properties.presence().enabled()) {
			guarded.addAll(PRESENCE_PATHS);
		}
		guarded.addAll(properties.api().protectedPaths());
		String[] protectedPaths = guarded.toArray(String[]::new);
		List<String> covered = new ArrayList<>(guarded);
		covered.addAll(properties.api().openPaths());
		http.securityMatcher(covered.toArray(String[]::new))
			.authorizeHttpRequests(requests -> requests.requestMatchers(protectedPaths).hasRole("admin")
				.anyRequest().permitAll())
			.oauth2ResourceServer(resourceServer -> resourceServer
				.bearerTokenResolver(new HttpBearerTokenResolver())
				.jwt(jwt -> jwt.decoder(requiringExpiry(verifier.decoder()))
					.jwtAuthenticationConverter(verifier.authenticationConverter()))
				.authenticationEntryPoint(UNAUTHORIZED)
				.accessDeniedHandler(FORBIDDEN))
			.exceptionHandling(exceptions -> exceptions.authenticationEntryPoint(UNAUTHORIZED)
				.accessDeniedHandler(FORBIDDEN))
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
