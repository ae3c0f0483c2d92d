package io.stomprelay.support;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Consumer;

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
		return encode(SECRET, JwtClaimsSet.builder().subject(user).issuedAt(Instant.now()).claim("roles", List.of(roles)).build());
	}

	/**
	 * A token signed with {@link #SECRET} carrying the claims {@code claims} sets, issued a second
	 * ago unless it says otherwise; no subject, roles or expiry unless it sets them.
	 */
	public static String signed(Consumer<JwtClaimsSet.Builder> claims) {
		JwtClaimsSet.Builder builder = JwtClaimsSet.builder().issuedAt(Instant.now().minusSeconds(1));
		claims.accept(builder);
		return encode(SECRET, builder.build());
	}

	public static String expired(String user) {
		return sign(SECRET, user, Instant.now().minus(Duration.ofMinutes(5)), "user");
	}

	public static String wronglySigned(String user) {
		return sign(OTHER_SECRET, user, Instant.now().plus(Duration.ofMinutes(10)), "user");
	}

	private static String sign(String secret, String user, Instant expiresAt, String... roles) {
		return encode(secret, JwtClaimsSet.builder()
			.subject(user)
			.issuedAt(expiresAt.isBefore(Instant.now()) ? expiresAt.minusSeconds(60) : Instant.now())
			.expiresAt(expiresAt)
			.claim("roles", List.of(roles))
			.build());
	}

	private static String encode(String secret, JwtClaimsSet claims) {
		NimbusJwtEncoder encoder = new NimbusJwtEncoder(
				new ImmutableSecret<>(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256")));
		return encoder.encode(JwtEncoderParameters.from(JwsHeader.with(MacAlgorithm.HS256).build(), claims))
			.getTokenValue();
	}

}
