package io.stomprelay.connection;

import org.springframework.security.oauth2.jwt.BadJwtException;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtException;
import org.springframework.security.oauth2.jwt.JwtValidationException;

/**
 * Verifies with the current HS256 secret and, only when the signature does not match, with the
 * previous one, so a secret can be rotated without rejecting tokens issued just before. A token
 * that fails validation (expired) with the current secret is refused as it is.
 */
class RotatingJwtDecoder implements JwtDecoder {

	private final JwtDecoder current;

	private final JwtDecoder previous;

	RotatingJwtDecoder(JwtDecoder current, JwtDecoder previous) {
		this.current = current;
		this.previous = previous;
	}

	@Override
	public Jwt decode(String token) throws JwtException {
		try {
			return this.current.decode(token);
		}
		catch (JwtValidationException ex) {
			throw ex;
		}
		catch (BadJwtException ex) {
			return this.previous.decode(token);
		}
	}

}
