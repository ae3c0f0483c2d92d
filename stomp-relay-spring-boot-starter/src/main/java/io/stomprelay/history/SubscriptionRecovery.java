package io.stomprelay.history;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.stomprelay.connection.SessionLanes;
import org.apache.commons.logging.Log;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.EnvelopeCodec;
import io.stomprelay.relay.EnvelopeFormatException;
import io.stomprelay.relay.MessageKind;
import io.stomprelay.relay.RelayEnvelope;
import io.stomprelay.relay.RelayMetrics;
import io.stomprelay.relay.RemoteDelivery;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHeaderAccessor;
import org.springframework.messaging.support.NativeMessageHeaderAccessor;
import org.springframework.messaging.simp.broker.OrderedMessageChannelDecorator;
import org.apache.commons.logging.LogFactory;

/**
 * Resumes a subscription: a SUBSCRIBE to a destination with history that carries
 * {@value #RESUME_FROM} first gets every message of that destination after that position, then the
 * live ones, with no gap and no duplicate between them.
 * <p>How the seam holds. Before the broker registers the subscription ({@link #prepare}), a
 * <i>gate</i> is set on it: from then on, the live messages for that subscription are held, not
 * sent, by this class as an interceptor on the client outbound channel. Once the broker has
 * registered it ({@link #recover}), the history after the position is read, in batches, up to the
 * newest message at that moment; the session's later frames wait meanwhile (its inbound lane is
 * paused, no thread waits). Then, under the gate's lock, the replayed messages, the held live ones
 * that are newer and the {@code RECEIPT} go out, in that order, and the gate opens. Every message
 * of the subscription is compared with the newest one sent, so a live message the replay already
 * had is dropped, also after the gate opened.
 * <p>Order on the wire. Spring's broker hands each session its messages one at a time through its
 * own per-session sender, which the replay cannot join. So, from its first resuming SUBSCRIBE on,
 * every frame for that session (of every subscription, receipts and errors too) is taken off the
 * broker's sender here and re-sent through one ordered sender of the session's own, Spring's
 * {@link OrderedMessageChannelDecorator}: frames reach the client in the order they passed here,
 * and a client that stops reading is still found by Spring's send-time and buffer limits (the next
 * frame is released once the previous one is buffered, not written). Sessions that never resume
 * are left alone.
 * <p>The {@code RECEIPT} (when the SUBSCRIBE asked for one) says {@code recovered:true} and
 * {@code recovered-count:<n>}, or {@code recovered:false} with nothing replayed: the position is not
 * one, belongs to another life of the stream (expired, Redis restarted), is trimmed away, ahead of
 * the stream, more than {@code max-recovery} behind, or Redis did not answer within
 * {@code stomp-relay.history.recovery-timeout}.
 */
public class SubscriptionRecovery implements ChannelInterceptor, LocalSessionRegistry.Listener {

	private static final Logger logger = LoggerFactory.getLogger(SubscriptionRecovery.class);

	/** The SUBSCRIBE header with the last position the client saw. */
	public static final String RESUME_FROM = "resume-from";

	/** The RECEIPT header: {@code true} when every missed message was replayed. */
	public static final String RECOVERED = "recovered";

	/** The RECEIPT header: how many messages were replayed. */
	public static final String RECOVERED_COUNT = "recovered-count";

	/** Live messages a gate holds at most while its replay is read; more are dropped (counted). */
	static final int MAX_HELD = 10_000;

	private static final String NEXT_MESSAGE_TASK = "simpNextMessageTask";

	/** Marks a frame already re-sent through its session's own ordered sender. */
	private static final String REORDERED = "stompRelayReordered";

	private static final Log orderedSenderLog = LogFactory.getLog(OrderedMessageChannelDecorator.class);

	private final MessageHistory history;

	private final EnvelopeCodec codec;

	private final SessionLanes lanes;

	private final ObjectProvider<MessageChannel> clientOutboundChannel;

	private final Duration timeout;

	private final RelayMetrics metrics;

	private final HistoryMetrics historyMetrics;

	/** Sessions that resumed a subscription at least once, by session id. */
	private final ConcurrentHashMap<String, Resumed> sessions = new ConcurrentHashMap<>();

	/**
	 * @param lanes the client inbound channel's lanes, paused while a replay is read
	 * @param timeout how long a replay may wait for Redis
	 */
	public SubscriptionRecovery(MessageHistory history, EnvelopeCodec codec, SessionLanes lanes,
			ObjectProvider<MessageChannel> clientOutboundChannel, Duration timeout, RelayMetrics metrics,
			HistoryMetrics historyMetrics) {
		this.history = history;
		this.codec = codec;
		this.lanes = lanes;
		this.clientOutboundChannel = clientOutboundChannel;
		this.timeout = timeout;
		this.metrics = metrics;
		this.historyMetrics = historyMetrics;
	}

	/**
	 * A SUBSCRIBE is about to reach the broker: if it resumes a destination with history, hold the
	 * subscription's live messages from now on.
	 * @param destination as the client subscribed to it
	 * @param subscribe the SUBSCRIBE's headers
	 */
	public void prepare(LocalSession session, String subscriptionId, String destination, MessageHeaders subscribe) {
		Resumed resumed = this.sessions.get(session.id());
		if (resumed != null) {
			resumed.gates.remove(subscriptionId);
		}
		String resumeFrom = firstNativeHeader(subscribe, RESUME_FROM);
		if (resumeFrom == null || !this.history.coversSubscription(destination)) {
			return;
		}
		HistoryStream stream = this.history.streamOfSubscription(session.user(), destination);
		Gate gate = new Gate(destination, stream, (stream != null) ? StreamPosition.parse(resumeFrom) : null,
				session.user() == null);
		this.sessions.computeIfAbsent(session.id(),
				id -> new Resumed(new OrderedMessageChannelDecorator(this.clientOutboundChannel.getObject(), orderedSenderLog)))
			.gates.put(subscriptionId, gate);
	}

	/**
	 * The broker registered a subscription: replay what it missed, if it resumes, then send its
	 * receipt. Called on the session's inbound lane.
	 * @param receiptId the SUBSCRIBE's {@code receipt}, {@code null} if none
	 * @return {@code false} when the subscription does not resume (the caller sends the receipt)
	 */
	public boolean recover(String sessionId, String subscriptionId, String receiptId) {
		Resumed resumed = this.sessions.get(sessionId);
		Gate gate = (resumed != null) ? resumed.gates.get(subscriptionId) : null;
		if (gate == null) {
			return false;
		}
		CompletableFuture<MessageHistory.Replay> replay = (gate.from == null)
				? CompletableFuture.completedFuture(MessageHistory.Replay.NOT_RECOVERED)
				: this.history.replayAfter(gate.stream, gate.from)
					.orTimeout(this.timeout.toMillis(), TimeUnit.MILLISECONDS)
					.exceptionally(failure -> {
						logger.warn("Session {}: the history did not answer a resuming SUBSCRIBE ({}); not recovered",
								sessionId, failure.getClass().getSimpleName());
						return MessageHistory.Replay.NOT_RECOVERED;
					});
		Runnable finish = () -> finish(sessionId, subscriptionId, resumed.out, gate, replay.join(), receiptId);
		if (replay.isDone()) {
			finish.run();
		}
		else {
			this.lanes.pauseUntil(replay, finish);
		}
		return true;
	}

	/**
	 * The client unsubscribed: forget the subscription's gate. The session keeps its ordered sender,
	 * which may still hold frames, until it ends.
	 */
	public void forget(String sessionId, String subscriptionId) {
		Resumed resumed = this.sessions.get(sessionId);
		if (resumed != null) {
			resumed.gates.remove(subscriptionId);
		}
	}

	@Override
	public void ended(LocalSession session) {
		this.sessions.remove(session.id());
	}

	/** @return sessions that resumed a subscription (for tests) */
	int sessions() {
		return this.sessions.size();
	}

	private void finish(String sessionId, String subscriptionId, MessageChannel outbound, Gate gate,
			MessageHistory.Replay replay, String receiptId) {
		int replayed = 0;
		synchronized (gate) {
			if (!replay.recovered()) {
				gate.last = null;
			}
			else {
				for (HistoryBatch.Entry entry : replay.entries()) {
					StreamPosition position = new StreamPosition(replay.epoch(), entry.offset());
					RelayEnvelope envelope = decode(entry);
					// an authenticated-only message is not for an anonymous session (nor counted for it)
					if (envelope != null && gate.newer(position)
							&& !(gate.anonymous && envelope.kind() == MessageKind.AUTHENTICATED)) {
						outbound.send(reordered(frame(sessionId, subscriptionId, gate.destination, envelope, position)));
						replayed++;
					}
				}
			}
			for (Message<?> held : gate.held) {
				if (gate.newer(positionOf(held.getHeaders()))) {
					outbound.send(held);
				}
			}
			gate.held = null;
			if (receiptId != null) {
				outbound.send(reordered(receipt(sessionId, receiptId, replay.recovered(), replayed)));
			}
		}
		this.historyMetrics.recovery(replay.recovered(), replayed);
	}

	private RelayEnvelope decode(HistoryBatch.Entry entry) {
		try {
			return this.codec.decode(entry.envelope());
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
			return null;
		}
	}

	private static Message<byte[]> frame(String sessionId, String subscriptionId, String destination,
			RelayEnvelope envelope, StreamPosition position) {
		Message<byte[]> message = RemoteDelivery.toMessage(envelope);
		SimpMessageHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, SimpMessageHeaderAccessor.class);
		accessor.setSessionId(sessionId);
		accessor.setSubscriptionId(subscriptionId);
		accessor.setDestination(destination);
		accessor.setNativeHeader(RemoteDelivery.STREAM_POSITION, position.format());
		return message;
	}

	private static Message<byte[]> receipt(String sessionId, String receiptId, boolean recovered, int count) {
		StompHeaderAccessor receipt = StompHeaderAccessor.create(StompCommand.RECEIPT);
		receipt.setReceiptId(receiptId);
		receipt.setSessionId(sessionId);
		receipt.setNativeHeader(RECOVERED, Boolean.toString(recovered));
		if (recovered) {
			receipt.setNativeHeader(RECOVERED_COUNT, Integer.toString(count));
		}
		return MessageBuilder.createMessage(new byte[0], receipt.getMessageHeaders());
	}

	/**
	 * For a session that resumed a subscription: holds that subscription's live messages while its
	 * replay is read, drops those the replay (or an earlier message) already delivered, and re-sends
	 * every other frame of the session through the session's own ordered sender.
	 */
	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		if (this.sessions.isEmpty()) {
			return message;
		}
		MessageHeaders headers = message.getHeaders();
		String sessionId = SimpMessageHeaderAccessor.getSessionId(headers);
		Resumed resumed = (sessionId != null) ? this.sessions.get(sessionId) : null;
		if (resumed == null || headers.containsKey(REORDERED)) {
			return message;
		}
		String subscriptionId = SimpMessageHeaderAccessor.getSubscriptionId(headers);
		Gate gate = (subscriptionId != null) ? resumed.gates.get(subscriptionId) : null;
		StreamPosition position = (gate != null) ? positionOf(headers) : null;
		if (position == null) {
			resumed.out.send(reordered(message));
			return null;
		}
		synchronized (gate) {
			if (gate.held != null) {
				if (gate.held.size() >= MAX_HELD) {
					this.metrics.dropped(DropReason.DELIVERY_QUEUE_FULL, "resuming subscription");
				}
				else {
					gate.held.add(reordered(message));
				}
			}
			else if (gate.newer(position)) {
				resumed.out.send(reordered(message));
			}
			else {
				this.metrics.duplicate();
			}
			return null;
		}
	}

	/**
	 * A copy marked as re-sent, without the ordering callback of the sender it came through (which
	 * has moved on), and mutable, as an ordered sender needs it.
	 */
	private static Message<?> reordered(Message<?> message) {
		MessageHeaderAccessor accessor = (MessageHeaderAccessor.getAccessor(message,
				MessageHeaderAccessor.class) instanceof StompHeaderAccessor) ? StompHeaderAccessor.wrap(message)
						: SimpMessageHeaderAccessor.wrap(message);
		accessor.removeHeader(NEXT_MESSAGE_TASK);
		accessor.setHeader(REORDERED, Boolean.TRUE);
		accessor.setLeaveMutable(true);
		return MessageBuilder.createMessage(message.getPayload(), accessor.getMessageHeaders());
	}

	private static StreamPosition positionOf(MessageHeaders headers) {
		return StreamPosition.parse(firstNativeHeader(headers, RemoteDelivery.STREAM_POSITION));
	}

	@SuppressWarnings("unchecked")
	private static String firstNativeHeader(MessageHeaders headers, String name) {
		Object nativeHeaders = headers.get(NativeMessageHeaderAccessor.NATIVE_HEADERS);
		if (!(nativeHeaders instanceof Map<?, ?> map)) {
			return null;
		}
		List<String> values = ((Map<String, List<String>>) map).get(name);
		return (values != null && !values.isEmpty()) ? values.get(0) : null;
	}

	/** A session that resumed a subscription: its gates and its own ordered sender. */
	private static final class Resumed {

		final Map<String, Gate> gates = new ConcurrentHashMap<>();

		final MessageChannel out;

		Resumed(MessageChannel out) {
			this.out = out;
		}

	}

	/** One resumed subscription. Guarded by its own lock. */
	private static final class Gate {

		final String destination;

		final HistoryStream stream;

		/** Whether the session has no user: authenticated-only messages are not replayed to it. */
		final boolean anonymous;

		/** Where the client resumes from; {@code null}: it cannot (not a position, no history). */
		final StreamPosition from;

		/** The newest message sent to the subscription. */
		StreamPosition last;

		/** Live messages held while the replay is read; {@code null} once the gate is open. */
		List<Message<?>> held = new ArrayList<>();

		Gate(String destination, HistoryStream stream, StreamPosition from, boolean anonymous) {
			this.anonymous = anonymous;
			this.destination = destination;
			this.stream = stream;
			this.from = from;
			this.last = from;
		}

		/** @return whether the message is newer than every one sent so far; it is the newest now */
		boolean newer(StreamPosition position) {
			if (position == null) {
				return true;
			}
			if (this.last != null && this.last.sameEpoch(position) && position.offset() <= this.last.offset()) {
				return false;
			}
			this.last = position;
			return true;
		}

	}

}
