package io.stomprelay.connection;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyPairGenerator;
import java.security.interfaces.RSAPrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Consumer;

import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.stomprelay.system.StompRelayProperties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.security.oauth2.server.resource.autoconfigure.servlet.OAuth2ResourceServerAutoConfiguration;
import org.springframework.boot.test.context.runner.WebApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.security.oauth2.jose.jws.SignatureAlgorithm;
import org.springframework.security.oauth2.jwt.JwsHeader;
import org.springframework.security.oauth2.jwt.JwtClaimsSet;
import org.springframework.security.oauth2.jwt.JwtEncoderParameters;
import org.springframework.security.oauth2.jwt.NimbusJwtEncoder;
import org.springframework.security.web.DefaultSecurityFilterChain;
import org.springframework.security.web.SecurityFilterChain;
import org.springframework.security.web.util.matcher.AnyRequestMatcher;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The decoder Spring Boot builds from {@code jwk-set-uri} or {@code issuer-uri} (fetching keys and
 * discovery from a local HTTP server) honours {@code stomp-relay.auth.jwt.clock-skew} instead of
 * Boot's own 60 s, and still checks the issuer.
 */
class OidcClockSkewTest {

	private static HttpServer server;

	private static String issuer;

	private static RSAKey key;

	@BeforeAll
	static void startIssuer() throws Exception {
		KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
		generator.initialize(2048);
		var pair = generator.generateKeyPair();
		key = new RSAKey.Builder((RSAPublicKey) pair.getPublic()).privateKey((RSAPrivateKey) pair.getPrivate())
			.keyID("k1")
			.build();
		server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
		issuer = "http://127.0.0.1:" + server.getAddress().getPort();
		server.createContext("/jwks", exchange -> json(exchange, new JWKSet(key.toPublicJWK()).toString()));
		server.createContext("/.well-known/openid-configuration", exchange -> json(exchange,
				"{\"issuer\":\"" + issuer + "\",\"jwks_uri\":\"" + issuer + "/jwks\",\"subject_types_supported\":[\"public\"],"
						+ "\"id_token_signing_alg_values_supported\":[\"RS256\"],\"response_types_supported\":[\"code\"]}"));
		server.start();
	}

	@AfterAll
	static void stopIssuer() {
		server.stop(0);
	}

	@Test
	void withoutSkewATokenExpiredHalfAMinuteAgoIsRefusedByTheJwkSetDecoder() {
		jwkSetUri("0s", verifier -> assertThatThrownBy(() -> verifier.verify(token(issuer, Duration.ofSeconds(-30))))
			.isInstanceOf(ClientRejectedException.class)
			.hasMessage("token expired"));
	}

	@Test
	void withTwoMinutesOfSkewATokenExpiredNinetySecondsAgoIsAcceptedByTheJwkSetDecoder() {
		jwkSetUri("2m", verifier -> assertThat(verifier.verify(token(issuer, Duration.ofSeconds(-90))).user().getName())
			.isEqualTo("olga"));
	}

	@Test
	void theJwkSetDecoderStillChecksTheIssuer() {
		jwkSetUri("2m", verifier -> {
			assertThat(verifier.verify(token(issuer, Duration.ofMinutes(5))).user().getName()).isEqualTo("olga");
			assertThatThrownBy(() -> verifier.verify(token("https://other.example", Duration.ofMinutes(5))))
				.isInstanceOf(ClientRejectedException.class)
				.hasMessage("invalid token");
		});
	}

	@Test
	void theIssuerDiscoveryDecoderHonoursTheSkewAndChecksTheIssuer() {
		run(verifier -> {
			assertThatThrownBy(() -> verifier.verify(token(issuer, Duration.ofSeconds(-30))))
				.isInstanceOf(ClientRejectedException.class)
				.hasMessage("token expired");
			assertThat(verifier.verify(token(issuer, Duration.ofMinutes(5))).user().getName()).isEqualTo("olga");
			assertThatThrownBy(() -> verifier.verify(token("https://other.example", Duration.ofMinutes(5))))
				.isInstanceOf(ClientRejectedException.class)
				.hasMessage("invalid token");
		}, "spring.security.oauth2.resourceserver.jwt.issuer-uri=" + issuer, "stomp-relay.auth.jwt.clock-skew=0s");
	}

	private static void jwkSetUri(String clockSkew, Consumer<TokenVerifier> check) {
		run(check, "spring.security.oauth2.resourceserver.jwt.jwk-set-uri=" + issuer + "/jwks",
				"spring.security.oauth2.resourceserver.jwt.issuer-uri=" + issuer,
				"stomp-relay.auth.jwt.clock-skew=" + clockSkew);
	}

	private static void run(Consumer<TokenVerifier> check, String... properties) {
		new WebApplicationContextRunner()
			.withConfiguration(AutoConfigurations.of(OAuth2ResourceServerAutoConfiguration.class))
			.withUserConfiguration(Properties.class, JwtVerifierConfiguration.class)
			.withPropertyValues("stomp-relay.auth.enabled=true")
			.withPropertyValues(properties)
			.run(context -> {
				assertThat(context).hasNotFailed();
				check.accept(context.getBean(TokenVerifier.class));
			});
	}

	private static String token(String tokenIssuer, Duration expiresIn) {
		Instant exp = Instant.now().plus(expiresIn);
		JwtClaimsSet claims = JwtClaimsSet.builder()
			.issuer(tokenIssuer)
			.subject("olga")
			.issuedAt(exp.minusSeconds(600))
			.expiresAt(exp)
			.claim("roles", List.of("user"))
			.build();
		return new NimbusJwtEncoder(new ImmutableJWKSet<>(new JWKSet(key)))
			.encode(JwtEncoderParameters.from(JwsHeader.with(SignatureAlgorithm.RS256).keyId("k1").build(), claims))
			.getTokenValue();
	}

	private static void json(HttpExchange exchange, String body) throws IOException {
		byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
		exchange.getResponseHeaders().add("Content-Type", "application/json");
		exchange.sendResponseHeaders(200, bytes.length);
		exchange.getResponseBody().write(bytes);
		exchange.close();
	}

	/** The node's properties, and a filter chain of its own so Boot's default one stays out. */
	@Configuration(proxyBeanMethods = false)
	@EnableConfigurationProperties(StompRelayProperties.class)
	static class Properties {

		@Bean
		SecurityFilterChain noFilters() {
			return new DefaultSecurityFilterChain(AnyRequestMatcher.INSTANCE);
		}

		@Bean
		io.stomprelay.system.NodeIdentity nodeIdentity() {
			return io.stomprelay.system.NodeIdentity.of("oidc-test");
		}

		@Bean
		ClientErrors clientErrors() {
			return new ClientErrors(new org.springframework.beans.factory.support.StaticListableBeanFactory()
				.getBeanProvider(org.springframework.messaging.MessageChannel.class));
		}

		@Bean
		io.stomprelay.session.LocalSessionRegistry localSessionRegistry() {
			return new io.stomprelay.session.LocalSessionRegistry(new io.micrometer.core.instrument.simple.SimpleMeterRegistry());
		}

		@Bean
		org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler stompRelayScheduler() {
			return new org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler();
		}

	}

}
