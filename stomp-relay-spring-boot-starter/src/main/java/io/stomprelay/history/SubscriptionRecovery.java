package io.stomprelay.history;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import io.stomprelay.connection.SessionLanes;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.EnvelopeCodec;
import io.stomprelay.relay.EnvelopeFormatException;
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
 * had is dropped, also after the gate opened. The client outbound channel runs each session's
 * frames in the order they were sent ({@link SessionLanes}), so that order is the order on the wire.
 * <p>The {@code RECEIPT} (when the SUBSCRIBE asked for one) says {@code recovered:true} and
 * {@code recovered-count:<n>}, or {@code recovered:false} with nothing replayed: the position is not
 * one, belongs to another life of the stream (expired, Redis restarted), is trimmed away, ahead of
 * the stream, more than {@code max-recovery} behind, or Redis did not answer within
 * {@code stomp-relay.redis.subscribe-timeout}.
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

	private final MessageHistory history;

	private final EnvelopeCodec codec;

	private final SessionLanes lanes;

	private final ObjectProvider<MessageChannel> clientOutboundChannel;

	private final Duration timeout;

	private final RelayMetrics metrics;

	private final HistoryMetrics historyMetrics;

	/** Session id to its resumed subscriptions' gates, by subscription id. */
	private final ConcurrentHashMap<String, Map<String, Gate>> gates = new ConcurrentHashMap<>();

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
		Map<String, Gate> sessionGates = this.gates.get(session.id());
		if (sessionGates != null) {
			sessionGates.remove(subscriptionId);
		}
		String resumeFrom = firstNativeHeader(subscribe, RESUME_FROM);
		if (resumeFrom == null || !this.history.coversSubscription(destination)) {
			return;
		}
		HistoryStream stream = this.history.streamOfSubscription(session.user(), destination);
		Gate gate = new Gate(destination, stream, (stream != null) ? StreamPosition.parse(resumeFrom) : null);
		this.gates.computeIfAbsent(session.id(), id -> new ConcurrentHashMap<>()).put(subscriptionId, gate);
	}

	/**
	 * The broker registered a subscription: replay what it missed, if it resumes, then send its
	 * receipt. Called on the session's inbound lane.
	 * @param receiptId the SUBSCRIBE's {@code receipt}, {@code null} if none
	 * @return {@code false} when the subscription does not resume (the caller sends the receipt)
	 */
	public boolean recover(String sessionId, String subscriptionId, String receiptId) {
		Map<String, Gate> sessionGates = this.gates.get(sessionId);
		Gate gate = (sessionGates != null) ? sessionGates.get(subscriptionId) : null;
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
		Runnable finish = () -> finish(sessionId, subscriptionId, gate, replay.join(), receiptId);
		if (replay.isDone()) {
			finish.run();
		}
		else {
			this.lanes.pauseUntil(replay, finish);
		}
		return true;
	}

	/** The client unsubscribed: forget the subscription's gate. */
	public void forget(String sessionId, String subscriptionId) {
		Map<String, Gate> sessionGates = this.gates.get(sessionId);
		if (sessionGates != null) {
			sessionGates.remove(subscriptionId);
			if (sessionGates.isEmpty()) {
				this.gates.remove(sessionId, sessionGates);
			}
		}
	}

	@Override
	public void ended(LocalSession session) {
		this.gates.remove(session.id());
	}

	/** @return sessions with a resumed subscription (for tests) */
	int sessions() {
		return this.gates.size();
	}

	private void finish(String sessionId, String subscriptionId, Gate gate, MessageHistory.Replay replay,
			String receiptId) {
		MessageChannel outbound = this.clientOutboundChannel.getObject();
		int replayed = 0;
		synchronized (gate) {
			gate.draining = Thread.currentThread();
			try {
				if (!replay.recovered()) {
					gate.last = null;
				}
				else {
					for (HistoryBatch.Entry entry : replay.entries()) {
						StreamPosition position = new StreamPosition(replay.epoch(), entry.offset());
						Message<byte[]> frame = frame(sessionId, subscriptionId, gate.destination, entry, position);
						if (frame != null && gate.newer(position)) {
							outbound.send(frame);
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
					outbound.send(receipt(sessionId, receiptId, replay.recovered(), replayed));
				}
			}
			finally {
				gate.draining = null;
			}
		}
		this.historyMetrics.recovery(replay.recovered(), replayed);
	}

	private Message<byte[]> frame(String sessionId, String subscriptionId, String destination,
			HistoryBatch.Entry entry, StreamPosition position) {
		Message<byte[]> message;
		try {
			message = RemoteDelivery.toMessage(this.codec.decode(entry.envelope()));
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
			return null;
		}
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
	 * Holds a resumed subscription's live messages while its replay is read, and drops those the
	 * replay (or an earlier message) already delivered.
	 */
	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		if (this.gates.isEmpty()) {
			return message;
		}
		MessageHeaders headers = message.getHeaders();
		String sessionId = SimpMessageHeaderAccessor.getSessionId(headers);
		Map<String, Gate> sessionGates = (sessionId != null) ? this.gates.get(sessionId) : null;
		String subscriptionId = (sessionGates != null) ? SimpMessageHeaderAccessor.getSubscriptionId(headers) : null;
		Gate gate = (subscriptionId != null) ? sessionGates.get(subscriptionId) : null;
		if (gate == null) {
			return message;
		}
		StreamPosition position = positionOf(headers);
		if (position == null) {
			return message;
		}
		synchronized (gate) {
			if (gate.draining == Thread.currentThread()) {
				return message;
			}
			if (gate.held != null) {
				if (gate.held.size() >= MAX_HELD) {
					this.metrics.dropped(DropReason.DELIVERY_QUEUE_FULL, "resuming subscription");
				}
				else {
					gate.held.add(detached(message));
				}
				return null;
			}
			if (!gate.newer(position)) {
				this.metrics.duplicate();
				return null;
			}
			return message;
		}
	}

	/** A copy without the ordering callback of the broker's per-session sender, which has moved on. */
	private static Message<?> detached(Message<?> message) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.wrap(message);
		accessor.removeHeader(NEXT_MESSAGE_TASK);
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

	/** One resumed subscription. Guarded by its own lock. */
	private static final class Gate {

		final String destination;

		final HistoryStream stream;

		/** Where the client resumes from; {@code null}: it cannot (not a position, no history). */
		final StreamPosition from;

		/** The newest message sent to the subscription. */
		StreamPosition last;

		/** Live messages held while the replay is read; {@code null} once the gate is open. */
		List<Message<?>> held = new ArrayList<>();

		/** The thread sending the replay, whose frames pass. */
		Thread draining;

		Gate(String destination, HistoryStream stream, StreamPosition from) {
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
