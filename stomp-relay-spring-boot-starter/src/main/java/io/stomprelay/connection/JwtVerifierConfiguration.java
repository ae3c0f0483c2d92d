package io.stomprelay.connection;

import java.nio.charset.StandardCharsets;

import javax.crypto.spec.SecretKeySpec;

import io.stomprelay.system.StartupCheckException;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.system.NodeIdentity;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.core.annotation.Order;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;
import org.springframework.boot.security.autoconfigure.UserDetailsServiceAutoConfiguration;
import org.springframework.boot.security.oauth2.server.resource.autoconfigure.servlet.OAuth2ResourceServerAutoConfiguration;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.jose.jws.MacAlgorithm;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;
import org.springframework.security.oauth2.server.resource.authentication.JwtAuthenticationConverter;
import org.springframework.security.oauth2.server.resource.authentication.JwtGrantedAuthoritiesConverter;

/**
 * Authentication on CONNECT with a JWT, on with {@code stomp-relay.auth.enabled=true} (and Spring
 * Security's OAuth2 resource server on the classpath): {@link TokenAuthenticationInterceptor} sets the
 * session user from {@code Authorization: Bearer <JWT>}, {@link SessionExpiry} ends the session when
 * the token expires. The verifier: an HS256 decoder from {@code stomp-relay.auth.jwt.secret}, or the decoder
 * Spring Boot builds from {@code spring.security.oauth2.resourceserver.jwt.issuer-uri} /
 * {@code jwk-set-uri}. With neither, the node refuses to start. Either way, a token is accepted
 * until {@code exp} plus {@code stomp-relay.auth.jwt.clock-skew}.
 */
@AutoConfiguration(before = { OAuth2ResourceServerAutoConfiguration.class, UserDetailsServiceAutoConfiguration.class })
@ConditionalOnClass(JwtDecoder.class)
@ConditionalOnProperty(name = "stomp-relay.auth.enabled", havingValue = "true")
class JwtVerifierConfiguration {

	/** Authenticates each session on its CONNECT frame, first of the starter's inbound interceptors. */
	@Bean
	@Order(InboundOrder.AUTHENTICATION)
	static WebSocketMessageBrokerConfigurer tokenAuthenticationConfigurer(TokenAuthenticationInterceptor authentication) {
		return new WebSocketMessageBrokerConfigurer() {
			@Override
			public void configureClientInboundChannel(ChannelRegistration registration) {
				registration.interceptors(authentication);
			}
		};
	}

	@Bean
	static TokenAuthenticationInterceptor tokenAuthenticationInterceptor(TokenVerifier verifier) {
		return new TokenAuthenticationInterceptor(verifier);
	}

	@Bean
	static SessionExpiry sessionExpiry(ThreadPoolTaskScheduler stompRelayScheduler, ClientErrors clientErrors,
			StompRelayProperties properties, NodeIdentity node, LocalSessionRegistry sessions) {
		SessionExpiry expiry = new SessionExpiry(node.id(), stompRelayScheduler, clientErrors,
				properties.auth().maxSessionAge(), properties.auth().jwt().clockSkew(), sessions);
		sessions.addListener(expiry);
		return expiry;
	}

	static final int MIN_SECRET_BYTES = 32;

	@Bean
	@ConditionalOnProperty("stomp-relay.auth.jwt.secret")
	JwtDecoder hs256JwtDecoder(StompRelayProperties properties) {
		StompRelayProperties.Jwt jwt = properties.auth().jwt();
		JwtDecoder current = hs256(jwt.secret(), "stomp-relay.auth.jwt.secret", jwt);
		if (jwt.previousSecret() == null || jwt.previousSecret().isBlank()) {
			return current;
		}
		return new RotatingJwtDecoder(current, hs256(jwt.previousSecret(), "stomp-relay.auth.jwt.previous-secret", jwt));
	}

	private static JwtDecoder hs256(String secret, String property, StompRelayProperties.Jwt jwt) {
		byte[] key = secret.getBytes(StandardCharsets.UTF_8);
		if (key.length < MIN_SECRET_BYTES) {
			throw new StartupCheckException(
					property + " is " + key.length + " bytes; HS256 needs at least " + MIN_SECRET_BYTES + ".",
					"Set " + property + " to a random string of at least " + MIN_SECRET_BYTES
							+ " bytes, e.g. `openssl rand -base64 48`.");
		}
		NimbusJwtDecoder decoder = NimbusJwtDecoder.withSecretKey(new SecretKeySpec(key, "HmacSHA256"))
			.macAlgorithm(MacAlgorithm.HS256)
			.build();
		decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(new JwtTimestampValidator(jwt.clockSkew())));
		return decoder;
	}

	/**
	 * The expiry rule of the decoder Spring Boot builds from {@code issuer-uri} / {@code jwk-set-uri}
	 * (unused by the HS256 decoder, which sets its own). Boot adds every {@code OAuth2TokenValidator<Jwt>}
	 * bean to that decoder's validators, next to the issuer check it adds when {@code issuer-uri} is
	 * set, and uses a {@link JwtTimestampValidator} found among them instead of its default one, which
	 * would accept tokens up to 60 s past {@code exp} whatever {@code stomp-relay.auth.jwt.clock-skew}
	 * says.
	 */
	@Bean
	static JwtTimestampValidator oidcTimestampValidator(StompRelayProperties properties) {
		return new JwtTimestampValidator(properties.auth().jwt().clockSkew());
	}

	/** Roles from the {@code roles} claim as {@code ROLE_*} authorities; the user name is {@code sub}. */
	@Bean
	static JwtAuthenticationConverter jwtAuthenticationConverter() {
		JwtGrantedAuthoritiesConverter authorities = new JwtGrantedAuthoritiesConverter();
		authorities.setAuthoritiesClaimName("roles");
		authorities.setAuthorityPrefix("ROLE_");
		JwtAuthenticationConverter converter = new JwtAuthenticationConverter();
		converter.setJwtGrantedAuthoritiesConverter(authorities);
		converter.setPrincipalClaimName("sub");
		return converter;
	}

	@Bean
	@ConditionalOnMissingBean
	TokenVerifier tokenVerifier(ObjectProvider<JwtDecoder> decoder, JwtAuthenticationConverter converter,
			StompRelayProperties properties) {
		JwtDecoder available = decoder.getIfAvailable();
		if (available == null) {
			throw new StartupCheckException("no JWT verifier is configured.",
					"Set stomp-relay.auth.jwt.secret (HS256, at least " + MIN_SECRET_BYTES + " bytes), or "
							+ "spring.security.oauth2.resourceserver.jwt.issuer-uri or jwk-set-uri.");
		}
		return new TokenVerifier(available, converter, properties.auth().jwt().sessionClaims());
	}

}
