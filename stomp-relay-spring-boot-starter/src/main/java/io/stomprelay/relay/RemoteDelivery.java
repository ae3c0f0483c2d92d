package io.stomprelay.relay;

import java.util.List;
import java.util.Map;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.messaging.Message;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.util.MimeType;
import org.springframework.util.function.SingletonSupplier;

/**
 * Receives envelopes from Redis and delivers them to this node's sessions. On the Redis I/O thread
 * it only counts the arrival ({@code stomp_relay_inbound_total}), decodes, checks and hands off:
 * broken or foreign envelopes are dropped and counted, this node's own echo is ignored, a message
 * that arrives a second time is counted and not delivered again, messages this node missed before
 * this one are counted ({@link ReceiveGaps}), and the
 * delivery itself runs on {@link DeliveryLanes}. There the message is re-injected into the local
 * broker through the local {@link SimpMessagingTemplate}, marked with
 * {@link RelayHeaders#RELAYED_FROM} so it is never republished. A {@link MessageKind#DISCONNECT}
 * control ends this node's sessions of its user instead, in the same lane, so the messages
 * published to the user before it are delivered first.
 */
public class RemoteDelivery implements RelayBus.Listener {

	private static final Logger logger = LoggerFactory.getLogger(RemoteDelivery.class);

	private final String nodeId;

	private final EnvelopeCodec codec;

	private final DeliveryLanes lanes;

	/** Resolved once, on first use: looking the bean up per message showed in the profile. */
	private final SingletonSupplier<SimpMessagingTemplate> brokerTemplate;

	private final RelayMetrics metrics;

	private final ReceiveGaps gaps;

	private final ObjectProvider<UserDisconnects> disconnects;

	/**
	 * @param disconnects ends this node's sessions of a user when another node asks
	 */
	public RemoteDelivery(String nodeId, EnvelopeCodec codec, DeliveryLanes lanes,
			ObjectProvider<SimpMessagingTemplate> brokerTemplate, RelayMetrics metrics, ReceiveGaps gaps,
			ObjectProvider<UserDisconnects> disconnects) {
		this.gaps = gaps;
		this.disconnects = disconnects;
		this.nodeId = nodeId;
		this.codec = codec;
		this.lanes = lanes;
		this.brokerTemplate = SingletonSupplier.of(brokerTemplate::getObject);
		this.metrics = metrics;
	}

	@Override
	public void onMessage(String channel, byte[] bytes) {
		this.metrics.inbound(bytes.length);
		RelayEnvelope envelope;
		try {
			envelope = this.codec.decode(bytes);
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
			return;
		}
		if (this.nodeId.equals(envelope.originNode())) {
			this.metrics.echo();
			return;
		}
		long missed = this.gaps.observe(channel, envelope.originNode(), EnvelopeCodec.readStamp(bytes));
		if (missed == ReceiveGaps.REPEAT) {
			this.metrics.duplicate();
			return;
		}
		if (missed > 0) {
			this.metrics.dropped(DropReason.MISSED, missed, DestinationKinds.forLog(envelope.destination()));
		}
		Runnable delivery = (envelope.kind() == MessageKind.DISCONNECT)
				? () -> this.disconnects.getObject().endLocalSessions(envelope.user(), envelope.messageId())
				: () -> deliver(envelope);
		if (!this.lanes.submit(channel, delivery)) {
			this.metrics.dropped(DropReason.DELIVERY_QUEUE_FULL, DestinationKinds.forLog(envelope.destination()));
		}
	}

	private void deliver(RelayEnvelope envelope) {
		try {
			this.brokerTemplate.obtain().send(envelope.destination(), toMessage(envelope));
			this.metrics.received(envelope.kind(), envelope.originTimestamp());
		}
		catch (RuntimeException ex) {
			logger.warn("Local delivery of relayed message {} failed: {}", envelope.messageId(), ex.getClass().getName());
		}
	}

	static Message<byte[]> toMessage(RelayEnvelope envelope) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		for (Map.Entry<String, List<String>> header : envelope.nativeHeaders().entrySet()) {
			for (String value : header.getValue()) {
				accessor.addNativeHeader(header.getKey(), value);
			}
		}
		if (envelope.contentType() != null) {
			accessor.setContentType(MimeType.valueOf(envelope.contentType()));
		}
		accessor.setHeader(RelayHeaders.RELAYED_FROM, envelope.originNode());
		accessor.setHeader(RelayHeaders.MESSAGE_ID, envelope.messageId());
		if (envelope.kind() == MessageKind.AUTHENTICATED) {
			accessor.setHeader(RelayHeaders.AUDIENCE, RelayHeaders.AUTHENTICATED);
		}
		accessor.setLeaveMutable(true);
		return MessageBuilder.createMessage(envelope.payload(), accessor.getMessageHeaders());
	}

}
