package io.stomprelay.connection;

import java.nio.charset.StandardCharsets;
import java.time.Duration;

import javax.crypto.spec.SecretKeySpec;

import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Test;

import org.springframework.security.oauth2.jose.jws.MacAlgorithm;
import org.springframework.security.oauth2.jwt.BadJwtException;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtTimestampValidator;
import org.springframework.security.oauth2.jwt.JwtValidationException;
import org.springframework.security.oauth2.jwt.NimbusJwtDecoder;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RotatingJwtDecoderTest {

	private static final String NEW_SECRET = "the-new-secret-0123456789-abcdefghijklmnopqrs";

	@Test
	void acceptsTokensSignedWithTheCurrentOrThePreviousSecret() {
		JwtDecoder rotating = new RotatingJwtDecoder(decoder(NEW_SECRET), decoder(TestTokens.SECRET));
		assertThat(rotating.decode(TestTokens.valid("ann", "user")).getSubject()).isEqualTo("ann");
	}

	@Test
	void refusesTokensSignedWithNeither() {
		JwtDecoder rotating = new RotatingJwtDecoder(decoder(NEW_SECRET), decoder("yet-another-secret-0123456789-abcdefghijkl"));
		assertThatThrownBy(() -> rotating.decode(TestTokens.valid("ann", "user"))).isInstanceOf(BadJwtException.class);
	}

	@Test
	void anExpiredTokenIsRefusedEvenWhenSignedWithThePreviousSecret() {
		JwtDecoder rotating = new RotatingJwtDecoder(decoder(NEW_SECRET), decoder(TestTokens.SECRET));
		assertThatThrownBy(() -> rotating.decode(TestTokens.expired("ann"))).isInstanceOf(JwtValidationException.class);
	}

	private static JwtDecoder decoder(String secret) {
		NimbusJwtDecoder decoder = NimbusJwtDecoder
			.withSecretKey(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"))
			.macAlgorithm(MacAlgorithm.HS256)
			.build();
		decoder.setJwtValidator(new JwtTimestampValidator(Duration.ZERO));
		return decoder;
	}

}
