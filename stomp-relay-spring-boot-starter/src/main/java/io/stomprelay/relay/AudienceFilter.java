package io.stomprelay.relay;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.support.ChannelInterceptor;

/**
 * Enforces the authenticated kind on the way out: a message marked
 * {@link RelayHeaders#AUDIENCE}={@value RelayHeaders#AUTHENTICATED} is not sent to an anonymous
 * session. The simple broker matches subscriptions as usual; this interceptor on the client
 * outbound channel removes the deliveries to sessions without a user.
 */
public class AudienceFilter implements ChannelInterceptor {

	private final SessionInterest sessions;

	public AudienceFilter(SessionInterest sessions) {
		this.sessions = sessions;
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		MessageHeaders headers = message.getHeaders();
		if (RelayHeaders.AUTHENTICATED.equals(headers.get(RelayHeaders.AUDIENCE))
				&& !this.sessions.isAuthenticated(SimpMessageHeaderAccessor.getSessionId(headers))) {
			return null;
		}
		return message;
	}

}
