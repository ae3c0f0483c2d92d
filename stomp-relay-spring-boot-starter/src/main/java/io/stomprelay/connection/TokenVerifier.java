package io.stomprelay.connection;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.springframework.core.convert.converter.Converter;
import org.springframework.security.authentication.AbstractAuthenticationToken;
import org.springframework.security.core.Authentication;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.security.oauth2.jwt.JwtDecoder;
import org.springframework.security.oauth2.jwt.JwtException;
import org.springframework.security.oauth2.jwt.JwtValidationException;

/**
 * Verifies a bearer token and turns it into the session's user: name from {@code sub}, authorities
 * {@code ROLE_<role>} from the {@code roles} claim. Signature and expiry are always checked by
 * the {@link JwtDecoder}; a token is never merely decoded. The user is a compact
 * {@link TokenAuthentication} that keeps the name, the authorities the converter gave and the
 * claims named in {@code stomp-relay.auth.jwt.session-claims}, not the token.
 */
public class TokenVerifier {

	/** Sent to a client whose token has expired. */
	public static final String TOKEN_EXPIRED = "token expired";

	/** Sent to a client whose token is malformed, wrongly signed or otherwise invalid. */
	public static final String INVALID_TOKEN = "invalid token";

	private final JwtDecoder decoder;

	private final Converter<Jwt, ? extends AbstractAuthenticationToken> authenticationConverter;

	private final List<String> sessionClaims;

	public TokenVerifier(JwtDecoder decoder, Converter<Jwt, ? extends AbstractAuthenticationToken> authenticationConverter) {
		this(decoder, authenticationConverter, List.of());
	}

	/**
	 * @param sessionClaims the claims a session's user keeps ({@link TokenAuthentication#getClaims()})
	 */
	public TokenVerifier(JwtDecoder decoder, Converter<Jwt, ? extends AbstractAuthenticationToken> authenticationConverter,
			List<String> sessionClaims) {
		this.decoder = decoder;
		this.authenticationConverter = authenticationConverter;
		this.sessionClaims = List.copyOf(sessionClaims);
	}

	/**
	 * @param token the compact JWT, without the {@code Bearer } prefix
	 * @return the authenticated user
	 * @throws ClientRejectedException with {@link #TOKEN_EXPIRED} or {@link #INVALID_TOKEN}
	 */
	public VerifiedToken verify(String token) {
		Jwt jwt;
		try {
			jwt = this.decoder.decode(token);
		}
		catch (JwtValidationException ex) {
			throw new ClientRejectedException(isExpiry(ex) ? TOKEN_EXPIRED : INVALID_TOKEN);
		}
		catch (JwtException | IllegalArgumentException ex) {
			throw new ClientRejectedException(INVALID_TOKEN);
		}
		if (jwt.getSubject() == null || jwt.getSubject().isBlank()) {
			throw new ClientRejectedException(INVALID_TOKEN);
		}
		AbstractAuthenticationToken authentication = this.authenticationConverter.convert(jwt);
		if (authentication == null) {
			throw new ClientRejectedException(INVALID_TOKEN);
		}
		return new VerifiedToken(new TokenAuthentication(authentication.getName(), authentication.getAuthorities(),
				keptClaims(jwt)), jwt.getExpiresAt());
	}

	private Map<String, Object> keptClaims(Jwt jwt) {
		if (this.sessionClaims.isEmpty()) {
			return Map.of();
		}
		Map<String, Object> kept = new LinkedHashMap<>();
		for (String claim : this.sessionClaims) {
			Object value = jwt.getClaims().get(claim);
			if (value != null) {
				kept.put(claim, value);
			}
		}
		return kept;
	}

	public JwtDecoder decoder() {
		return this.decoder;
	}

	public Converter<Jwt, ? extends AbstractAuthenticationToken> authenticationConverter() {
		return this.authenticationConverter;
	}

	private static boolean isExpiry(JwtValidationException ex) {
		for (OAuth2Error error : ex.getErrors()) {
			String description = error.getDescription();
			if (description != null && description.toLowerCase().contains("expired")) {
				return true;
			}
		}
		return false;
	}

	/**
	 * A verified token.
	 *
	 * @param user the session user, a {@link TokenAuthentication}
	 * @param expiresAt when the token expires, or {@code null} when it has no {@code exp}
	 */
	public record VerifiedToken(Authentication user, Instant expiresAt) {
	}

}
