package io.stomprelay.connection;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.messaging.support.MessageHeaderAccessor;

/**
 * Authenticates a STOMP session on its CONNECT frame. {@code Authorization: Bearer <JWT>} sets the
 * session user; no header leaves the session anonymous; anything else is refused with a
 * {@link ClientRejectedException} (which becomes an {@code ERROR} frame and a close). The user name
 * comes only from the verified token, never from a client-sent header. The token header is removed
 * from the frame once verified so it travels no further; the token's expiry goes on with the frame
 * ({@link #TOKEN_EXPIRES_AT}) to the session's admission ({@link SessionLimits}), which records it
 * on the session, and {@link SessionExpiry} ends the session then.
 */
public class TokenAuthenticationInterceptor implements ChannelInterceptor {

	static final String AUTHORIZATION = "Authorization";

	static final String MALFORMED_HEADER = "malformed Authorization header";

	/**
	 * The message header (never sent to a client) of an authenticated CONNECT that carries the
	 * token's {@code exp} as an {@link java.time.Instant}; absent when the token has none.
	 */
	static final String TOKEN_EXPIRES_AT = "stompRelayTokenExpiresAt";

	private static final String BEARER = "Bearer ";

	private final TokenVerifier verifier;

	public TokenAuthenticationInterceptor(TokenVerifier verifier) {
		this.verifier = verifier;
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		StompHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, StompHeaderAccessor.class);
		if (accessor == null || !isConnect(accessor.getCommand())) {
			return message;
		}
		String header = accessor.getFirstNativeHeader(AUTHORIZATION);
		if (header == null) {
			header = accessor.getFirstNativeHeader(AUTHORIZATION.toLowerCase());
		}
		if (header == null) {
			return message;
		}
		accessor.removeNativeHeader(AUTHORIZATION);
		accessor.removeNativeHeader(AUTHORIZATION.toLowerCase());
		if (!header.regionMatches(true, 0, BEARER, 0, BEARER.length()) || header.length() == BEARER.length()) {
			throw new ClientRejectedException(MALFORMED_HEADER);
		}
		TokenVerifier.VerifiedToken token = this.verifier.verify(header.substring(BEARER.length()).trim());
		accessor.setUser(token.user());
		accessor.setHeader(TOKEN_EXPIRES_AT, token.expiresAt());
		return message;
	}

	private static boolean isConnect(StompCommand command) {
		return command == StompCommand.CONNECT || command == StompCommand.STOMP;
	}

}
