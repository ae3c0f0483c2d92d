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
import org.springframework.messaging.support.MessageHeaderAccessor;
import org.springframework.util.MimeType;
import org.springframework.util.function.SingletonSupplier;

import io.stomprelay.history.HistoryReceiver;
import io.stomprelay.history.StreamPosition;

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
 * <p>A message of a destination with history arrives positioned (see {@link EnvelopeCodec}) from
 * every node, this one included (its origin delivers it only now, so every session everywhere sees
 * the same positions in the same order). The {@link HistoryReceiver} drops repeats and fills in what
 * this node missed; each is delivered with the STOMP header {@value #STREAM_POSITION} (and
 * {@value #STREAM_GAP} after a hole the history could no longer fill).
 */
public class RemoteDelivery implements RelayBus.Listener {

	private static final Logger logger = LoggerFactory.getLogger(RemoteDelivery.class);

	/** The STOMP header with a history message's position. */
	public static final String STREAM_POSITION = "stream-position";

	/** The STOMP header with how many messages right before this one were lost. */
	public static final String STREAM_GAP = "stream-gap";

	/** This node's id as envelopes carry it, to recognise its own echo without decoding. */
	private final byte[] nodeOrigin;

	private final EnvelopeCodec codec;

	private final DeliveryLanes lanes;

	/** Resolved once, on first use: looking the bean up per message showed in the profile. */
	private final SingletonSupplier<SimpMessagingTemplate> brokerTemplate;

	private final RelayMetrics metrics;

	private final ReceiveGaps gaps;

	private final ObjectProvider<UserDisconnects> disconnects;

	private final SingletonSupplier<HistoryReceiver> history;

	/**
	 * @param disconnects ends this node's sessions of a user when another node asks
	 * @param history orders and repairs the messages of destinations with history, when there are
	 * some
	 */
	public RemoteDelivery(String nodeId, EnvelopeCodec codec, DeliveryLanes lanes,
			ObjectProvider<SimpMessagingTemplate> brokerTemplate, RelayMetrics metrics, ReceiveGaps gaps,
			ObjectProvider<UserDisconnects> disconnects, ObjectProvider<HistoryReceiver> history) {
		this.history = SingletonSupplier.of(history::getIfAvailable);
		this.gaps = gaps;
		this.disconnects = disconnects;
		this.nodeOrigin = EnvelopeCodec.originField(nodeId);
		this.codec = codec;
		this.lanes = lanes;
		this.brokerTemplate = SingletonSupplier.of(brokerTemplate::getObject);
		this.metrics = metrics;
	}

	@Override
	public void onMessage(String channel, byte[] bytes) {
		this.metrics.inbound(bytes.length);
		if (EnvelopeCodec.isPositioned(bytes)) {
			receivePositioned(channel, bytes);
			return;
		}
		if (EnvelopeCodec.isFrom(bytes, this.nodeOrigin)) {
			this.metrics.echo();
			return;
		}
		RelayEnvelope envelope;
		try {
			envelope = this.codec.decode(bytes);
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
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

	private void receivePositioned(String channel, byte[] bytes) {
		StreamPosition position = StreamPosition.parse(EnvelopeCodec.positionOf(bytes));
		RelayEnvelope envelope;
		try {
			if (position == null) {
				throw new EnvelopeFormatException("bad stream position");
			}
			envelope = this.codec.decodePositioned(bytes);
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
			return;
		}
		HistoryReceiver receiver = this.history.get();
		if (receiver == null) {
			// another node keeps history for this destination and this one does not: deliver as it comes
			submitPositioned(channel, List.of(new HistoryReceiver.Positioned(position, envelope, 0)));
			return;
		}
		receiver.receive(channel, position, envelope, this::submitPositioned);
	}

	private void submitPositioned(String channel, List<HistoryReceiver.Positioned> messages) {
		if (!this.lanes.submit(channel, () -> messages.forEach(this::deliver))) {
			this.metrics.dropped(DropReason.DELIVERY_QUEUE_FULL, messages.size(),
					DestinationKinds.forLog(messages.get(0).envelope().destination()));
		}
	}

	private void deliver(HistoryReceiver.Positioned message) {
		Message<byte[]> delivery = toMessage(message.envelope());
		SimpMessageHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(delivery, SimpMessageHeaderAccessor.class);
		accessor.setNativeHeader(STREAM_POSITION, message.position().format());
		if (message.lostBefore() > 0) {
			accessor.setNativeHeader(STREAM_GAP, Long.toString(message.lostBefore()));
		}
		deliver(message.envelope(), delivery);
	}

	private void deliver(RelayEnvelope envelope) {
		deliver(envelope, toMessage(envelope));
	}

	private void deliver(RelayEnvelope envelope, Message<byte[]> message) {
		try {
			this.brokerTemplate.obtain().send(envelope.destination(), message);
			this.metrics.received(envelope.kind(), envelope.originTimestamp());
		}
		catch (RuntimeException ex) {
			logger.warn("Local delivery of relayed message {} failed: {}", envelope.messageId(), ex.getClass().getName());
		}
	}

	/**
	 * @return the envelope as a message for the local broker, marked as relayed
	 */
	public static Message<byte[]> toMessage(RelayEnvelope envelope) {
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
