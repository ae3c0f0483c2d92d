package io.stomprelay.connection;

import io.micrometer.core.instrument.Counter;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.ChannelInterceptor;

/**
 * Refuses a client's SEND or SUBSCRIBE whose destination breaks {@link DestinationSyntax}, with
 * {@code ERROR} "invalid destination" and a close, counted as
 * {@code stomp_relay_limit_rejections_total{limit="destination"}}. Runs on the client inbound
 * channel after {@link TokenAuthenticationInterceptor} and {@link SessionLimits} (which requires the
 * destination header) and before Spring Security's authorization, so the destination rules of
 * {@link DestinationAuthorizationConfiguration} only ever see plain destinations, and nothing is
 * routed, subscribed or relayed for a refused frame.
 */
public class DestinationSyntaxInterceptor implements ChannelInterceptor {

	private final Counter rejections;

	/**
	 * @param rejections counts frames refused for their destination
	 */
	public DestinationSyntaxInterceptor(Counter rejections) {
		this.rejections = rejections;
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		SimpMessageType type = SimpMessageHeaderAccessor.getMessageType(message.getHeaders());
		if (type != SimpMessageType.MESSAGE && type != SimpMessageType.SUBSCRIBE) {
			return message;
		}
		String destination = SimpMessageHeaderAccessor.getDestination(message.getHeaders());
		if (destination != null && !DestinationSyntax.isValid(destination)) {
			this.rejections.increment();
			throw new ClientRejectedException(SafeStompErrorHandler.INVALID_DESTINATION);
		}
		return message;
	}

}
