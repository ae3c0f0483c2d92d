package io.stomprelay.connection;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;

import javax.crypto.spec.SecretKeySpec;

import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Test;

import org.springframework.security.core.GrantedAuthority;
import org.springframework.security.oauth2.core.DelegatingOAuth2TokenValidator;
import org.springframework.security.oauth2.jose.jws.MacAlgorithm;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/**
 * Token verification with a real HS256 decoder configured like {@code JwtVerifierConfiguration}:
 * only a correctly signed, unexpired token with a subject becomes a user, and a refusal never
 * repeats the token.
 */
class TokenVerifierTest {

	private final TokenVerifier verifier = verifier();

	static TokenVerifier verifier() {
		return verifier(List.of());
	}

	static TokenVerifier verifier(List<String> sessionClaims) {
		NimbusJwtDecoder decoder = NimbusJwtDecoder
			.withSecretKey(new SecretKeySpec(TestTokens.SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256"))
			.macAlgorithm(MacAlgorithm.HS256)
			.build();
		decoder.setJwtValidator(new DelegatingOAuth2TokenValidator<>(new JwtTimestampValidator(Duration.ZERO)));
		return new TokenVerifier(decoder, JwtVerifierConfiguration.jwtAuthenticationConverter(), sessionClaims);
	}

	@Test
	void aValidTokenBecomesItsSubjectWithRoleAuthorities() {
		TokenVerifier.VerifiedToken token = this.verifier.verify(TestTokens.valid("alice", "user", "admin"));

		assertThat(token.user().getName()).isEqualTo("alice");
		assertThat(token.user().isAuthenticated()).isTrue();
		// Spring Security 7 adds its own FACTOR_BEARER authority; the roles are the ROLE_ ones
		assertThat(roles(token)).containsExactlyInAnyOrder("ROLE_user", "ROLE_admin");
		assertThat(token.expiresAt()).isCloseTo(Instant.now().plus(Duration.ofMinutes(10)), within(Duration.ofMinutes(1)));
	}

	@Test
	void theSessionUserKeepsNeitherTheTokenNorItsClaimsByDefault() {
		String encoded = TestTokens.signed(claims -> claims.subject("alice")
			.claim("roles", List.of("user"))
			.claim("tenant", "acme")
			.expiresAt(Instant.now().plus(Duration.ofMinutes(10))));

		TokenVerifier.VerifiedToken token = this.verifier.verify(encoded);

		assertThat(token.user()).isInstanceOf(TokenAuthentication.class);
		TokenAuthentication user = (TokenAuthentication) token.user();
		assertThat(user.getPrincipal()).isEqualTo("alice");
		assertThat(user.getCredentials()).isNull();
		assertThat(user.getDetails()).isNull();
		assertThat(user.getClaims()).isEmpty();
		assertThat(user.toString()).doesNotContain(encoded).doesNotContain("acme");
		assertThatThrownBy(() -> user.setAuthenticated(false)).isInstanceOf(IllegalArgumentException.class);
		assertThat(user.isAuthenticated()).isTrue();
	}

	@Test
	void theSessionUserKeepsTheConfiguredClaimsThatTheTokenHas() {
		Instant expiry = Instant.now().plus(Duration.ofMinutes(10)).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
		String encoded = TestTokens.signed(claims -> claims.subject("alice")
			.claim("tenant", "acme")
			.claim("groups", List.of("a", "b"))
			.claim("secret-ish", "not kept")
			.expiresAt(expiry));

		TokenAuthentication user = (TokenAuthentication) verifier(List.of("tenant", "groups", "exp", "absent"))
			.verify(encoded)
			.user();

		assertThat(user.getClaims()).containsOnlyKeys("tenant", "groups", "exp");
		assertThat(user.getClaim("tenant")).isEqualTo("acme");
		assertThat(user.getClaim("groups")).isEqualTo(List.of("a", "b"));
		assertThat(user.getClaim("exp")).isEqualTo(expiry);
		assertThat(user.getClaim("secret-ish")).isNull();
		assertThat(user.getClaim("absent")).isNull();
		assertThat(user.toString()).doesNotContain("acme");
	}

	@Test
	void aValidTokenWithoutRolesHasNoAuthorities() {
		TokenVerifier.VerifiedToken token = this.verifier.verify(TestTokens.valid("bob"));

		assertThat(token.user().getName()).isEqualTo("bob");
		assertThat(roles(token)).isEmpty();
	}

	@Test
	void aTokenWithoutExpiryIsAcceptedWithNoExpiry() {
		String token = TestTokens.signed(claims -> claims.subject("carol"));

		assertThat(this.verifier.verify(token).expiresAt()).isNull();
	}

	@Test
	void anExpiredTokenIsRejectedAsExpired() {
		String token = TestTokens.expired("alice");

		assertRejected(token, TokenVerifier.TOKEN_EXPIRED);
		assertThat(TokenVerifier.TOKEN_EXPIRED).isEqualTo("token expired");
	}

	@Test
	void aTokenNotYetValidIsRejectedAsInvalid() {
		String token = TestTokens.signed(claims -> claims.subject("alice")
			.notBefore(Instant.now().plus(Duration.ofMinutes(5)))
			.expiresAt(Instant.now().plus(Duration.ofMinutes(10))));

		assertRejected(token, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void aWronglySignedTokenIsRejectedAsInvalid() {
		assertRejected(TestTokens.wronglySigned("alice"), "invalid token");
	}

	@Test
	void aTamperedPayloadIsRejectedAsInvalid() {
		String[] parts = TestTokens.valid("alice", "user").split("\\.");
		String forged = parts[0] + "." + base64Url("{\"sub\":\"admin\",\"roles\":[\"admin\"],\"exp\":9999999999}") + "."
				+ parts[2];

		assertRejected(forged, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void garbageIsRejectedAsInvalid() {
		assertRejected("abc", TokenVerifier.INVALID_TOKEN);
		assertRejected("a.b.c", TokenVerifier.INVALID_TOKEN);
		assertRejected("Bearer abc", TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void anEmptyTokenIsRejectedAsInvalid() {
		assertThatThrownBy(() -> this.verifier.verify("")).isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage(TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void anUnsignedAlgNoneTokenIsRejectedAsInvalid() {
		String token = base64Url("{\"alg\":\"none\"}") + "." + base64Url("{\"sub\":\"x\"}") + ".";

		assertRejected(token, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void anUnsignedAlgNoneTokenWithExpiryIsRejectedAsInvalid() {
		long exp = Instant.now().plus(Duration.ofMinutes(10)).getEpochSecond();
		String token = base64Url("{\"alg\":\"none\",\"typ\":\"JWT\"}") + "."
				+ base64Url("{\"sub\":\"admin\",\"roles\":[\"admin\"],\"exp\":" + exp + "}") + ".";

		assertRejected(token, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void aTokenWithoutSubjectIsRejectedAsInvalid() {
		String token = TestTokens.signed(claims -> claims.claim("roles", List.of("user"))
			.expiresAt(Instant.now().plus(Duration.ofMinutes(10))));

		assertRejected(token, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void aTokenWithABlankSubjectIsRejectedAsInvalid() {
		String token = TestTokens.signed(claims -> claims.subject("  ").expiresAt(Instant.now().plus(Duration.ofMinutes(10))));

		assertRejected(token, TokenVerifier.INVALID_TOKEN);
	}

	@Test
	void theRejectionNeverCarriesTheTokenOrACause() {
		for (String token : List.of(TestTokens.expired("alice"), TestTokens.wronglySigned("alice"), "abc",
				base64Url("{\"alg\":\"none\"}") + "." + base64Url("{\"sub\":\"x\"}") + ".")) {
			assertThatThrownBy(() -> this.verifier.verify(token)).isInstanceOf(ClientRejectedException.class)
				.satisfies(ex -> {
					assertThat(ex.getMessage()).isIn(TokenVerifier.TOKEN_EXPIRED, TokenVerifier.INVALID_TOKEN)
						.doesNotContain(token);
					assertThat(ex.getCause()).as("no cause that could carry the token").isNull();
					assertThat(ex.getStackTrace()).as("no stack trace to leak").isEmpty();
				});
		}
	}

	private static List<String> roles(TokenVerifier.VerifiedToken token) {
		return token.user()
			.getAuthorities()
			.stream()
			.map(GrantedAuthority::getAuthority)
			.filter(authority -> authority.startsWith("ROLE_"))
			.toList();
	}

	private void assertRejected(String token, String message) {
		assertThatThrownBy(() -> this.verifier.verify(token)).isExactlyInstanceOf(ClientRejectedException.class)
			.hasMessage(message);
	}

	private static String base64Url(String json) {
		return Base64.getUrlEncoder().withoutPadding().encodeToString(json.getBytes(StandardCharsets.UTF_8));
	}

}
