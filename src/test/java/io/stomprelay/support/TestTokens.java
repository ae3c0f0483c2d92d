package io.stomprelay.support;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

import javax.crypto.spec.SecretKeySpec;

import com.nimbusds.jose.jwk.source.ImmutableSecret;

import org.springframework.security.oauth2.jose.jws.MacAlgorithm;
import org.springframework.security.oauth2.jwt.JwsHeader;
import org.springframework.security.oauth2.jwt.JwtClaimsSet;
import org.springframework.security.oauth2.jwt.JwtEncoderParameters;
import org.springframework.security.oauth2.jwt.NimbusJwtEncoder;

/**
 * Real HS256 JWTs for tests: valid, expired, or signed with another key.
 */
public final class TestTokens {

	public static final String SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

	private static final String OTHER_SECRET = "another-secret-0123456789-abcdefghijklmnopqrstuv";

	private TestTokens() {
	}

	public static String valid(String user, String... roles) {
		return sign(SECRET, user, Instant.now().plus(Duration.ofMinutes(10)), roles);
	}

	public static String expiringIn(String user, Duration lifetime) {
		return sign(SECRET, user, Instant.now().plus(lifetime), "user");
	}

	/** A token with these roles that expires {@code lifetime} from now. */
	public static String expiringIn(String user, Duration lifetime, String... roles) {
		return sign(SECRET, user, Instant.now().plus(lifetime), roles);
	}

	/** A token that expired {@code ago} before now. */
	public static String expiredAgo(String user, Duration ago) {
		return sign(SECRET, user, Instant.now().minus(ago), "user");
	}

	/** A token with no {@code exp} claim at all. */
	public static String withoutExpiry(String user, String... roles) {
		NimbusJwtEncoder encoder = new NimbusJwtEncoder(
				new ImmutableSecret<>(new SecretKeySpec(SECRET.getBytes(StandardCharsets.UTF_8), "HmacSHA256")));
		JwtClaimsSet claims = JwtClaimsSet.builder().subject(user).issuedAt(Instant.now()).claim("roles", List.of(roles)).build();
		return encoder.encode(JwtEncoderParameters.from(JwsHeader.with(MacAlgorithm.HS256).build(), claims))
			.getTokenValue();
	}

	public static String expired(String user) {
		return sign(SECRET, user, Instant.now().minus(Duration.ofMinutes(5)), "user");
	}

	public static String wronglySigned(String user) {
		return sign(OTHER_SECRET, user, Instant.now().plus(Duration.ofMinutes(10)), "user");
	}

	/** A valid token for {@code user} (role {@code user}) that also carries {@code extraClaims}. */
	public static String withClaims(String user, Map<String, Object> extraClaims) {
		return sign(SECRET, user, Instant.now().plus(Duration.ofMinutes(10)), extraClaims, "user");
	}

	private static String sign(String secret, String user, Instant expiresAt, String... roles) {
		return sign(secret, user, expiresAt, Map.of(), roles);
	}

	private static String sign(String secret, String user, Instant expiresAt, Map<String, Object> extraClaims,
			String... roles) {
		NimbusJwtEncoder encoder = new NimbusJwtEncoder(
				new ImmutableSecret<>(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256")));
		JwtClaimsSet.Builder builder = JwtClaimsSet.builder()
			.subject(user)
			.issuedAt(expiresAt.isBefore(Instant.now()) ? expiresAt.minusSeconds(60) : Instant.now())
			.expiresAt(expiresAt)
			.claim("roles", List.of(roles));
		extraClaims.forEach(builder::claim);
		JwtClaimsSet claims = builder.build();
		return encoder.encode(JwtEncoderParameters.from(JwsHeader.with(MacAlgorithm.HS256).build(), claims))
			.getTokenValue();
	}

}
