package io.stomprelay.relay;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHandler;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.ExecutorChannelInterceptor;

/**
 * Counts the {@code MESSAGE} frames this node hands to its own sessions
 * ({@code stomp_relay_local_deliveries_total}), whether the message was published here or came from
 * another node. It sits on the client outbound channel after the audience filter and counts a
 * frame once the WebSocket layer took it without error; frames filtered out, receipts, errors and
 * heart-beats are not counted.
 */
public class LocalDeliveryMeter implements ExecutorChannelInterceptor {

	private final RelayMetrics metrics;

	public LocalDeliveryMeter(RelayMetrics metrics) {
		this.metrics = metrics;
	}

	@Override
	public void afterMessageHandled(Message<?> message, MessageChannel channel, MessageHandler handler,
			Exception ex) {
		if (ex == null && SimpMessageHeaderAccessor.getMessageType(message.getHeaders()) == SimpMessageType.MESSAGE) {
			this.metrics.delivered();
		}
	}

}
