package io.stomprelay.relay;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import io.stomprelay.history.MessageHistory;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHandler;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.ExecutorChannelInterceptor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.NativeMessageHeaderAccessor;
import org.springframework.util.IdGenerator;

/**
 * The heart of the relay: a {@link ChannelInterceptor} on Spring's broker channel that sees every
 * message the application sends ({@code @SendToUser}, {@code @SendTo},
 * {@code SimpMessagingTemplate}, the HTTP API) and republishes the user, all and authenticated kinds
 * through the {@link RelayBus}. The message then continues to the local broker unchanged, so this
 * node delivers to its own sessions itself and ignores its echo from Redis.
 * <p>Not relayed: messages re-injected from Redis ({@link RelayHeaders#RELAYED_FROM}), user messages
 * aimed at one session of this node ({@code @SendToUser(broadcast = false)}, replies to anonymous
 * senders; a session id that is not one of the user's sessions here does not count), and every
 * destination other than {@code /user/{name}/...} and {@code /topic/...}.
 * <p>Publishing is asynchronous and never blocks the sending thread; a publish Redis cannot take is
 * counted as dropped. Messages published from one thread reach Redis in that order.
 * <p>A message of a destination with history ({@link MessageHistory}) is appended to the history
 * and published in one step, and this node does <i>not</i> deliver it locally right away: it
 * delivers it when it comes back from Redis with its position, like every other node, so all
 * sessions see the same positions in the same order. That costs this node's own sessions one Redis
 * round trip of latency, and needs Redis: while it is away such messages are dropped (counted) for
 * every node.
 */
public class ClusterRelayInterceptor implements ExecutorChannelInterceptor {

	/** Marks a message that goes through the history instead of the local broker. */
	private static final String VIA_HISTORY = "stompRelayViaHistory";

	private final String nodeId;

	private final RelayChannels channels;

	private final EnvelopeCodec codec;

	private final RelayBus bus;

	private final RelayMetrics metrics;

	private final IdGenerator ids;

	private final LocalSessions sessions;

	private final PublishSequences sequences;

	private final MessageHistory history;

	private volatile boolean active = true;

	public ClusterRelayInterceptor(String nodeId, RelayChannels channels, EnvelopeCodec codec, RelayBus bus,
			RelayMetrics metrics, IdGenerator ids, LocalSessions sessions, PublishSequences sequences) {
		this(nodeId, channels, codec, bus, metrics, ids, sessions, sequences, null);
	}

	/**
	 * @param history the destinations with history, {@code null} when none has
	 */
	public ClusterRelayInterceptor(String nodeId, RelayChannels channels, EnvelopeCodec codec, RelayBus bus,
			RelayMetrics metrics, IdGenerator ids, LocalSessions sessions, PublishSequences sequences,
			MessageHistory history) {
		this.history = history;
		this.sessions = sessions;
		this.sequences = sequences;
		this.nodeId = nodeId;
		this.channels = channels;
		this.codec = codec;
		this.bus = bus;
		this.metrics = metrics;
		this.ids = ids;
	}

	/** Stops relaying: the application has no simple broker to attach to ({@link RelayApplicability}). */
	void deactivate() {
		this.active = false;
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		MessageHeaders headers = message.getHeaders();
		if (!this.active || SimpMessageHeaderAccessor.getMessageType(headers) != SimpMessageType.MESSAGE
				|| headers.containsKey(RelayHeaders.RELAYED_FROM)) {
			return message;
		}
		String destination = SimpMessageHeaderAccessor.getDestination(headers);
		if (destination == null) {
			return message;
		}
		MessageKind kind;
		String user = null;
		if (destination.startsWith(DestinationKinds.USER_PREFIX)) {
			user = DestinationKinds.userOf(destination);
			if (user == null || this.sessions.targetsOneLocalSession(user, SimpMessageHeaderAccessor.getSessionId(headers))) {
				return message;
			}
			kind = MessageKind.USER;
		}
		else if (destination.startsWith(DestinationKinds.TOPIC_PREFIX)) {
			kind = RelayHeaders.AUTHENTICATED.equals(headers.get(RelayHeaders.AUDIENCE)) ? MessageKind.AUTHENTICATED
					: MessageKind.ALL;
		}
		else {
			return message;
		}
		if (!(message.getPayload() instanceof byte[] payload)) {
			this.metrics.dropped(DropReason.UNSUPPORTED_PAYLOAD, DestinationKinds.forLog(destination));
			return message;
		}
		if (this.history != null && this.history.covers(destination)) {
			appendToHistory(kind, user, destination, headers, payload);
			return MessageBuilder.fromMessage(message).setHeader(VIA_HISTORY, Boolean.TRUE).build();
		}
		publish(kind, user, destination, headers, payload);
		return message;
	}

	/** Keeps a message that went to the history from the local broker: it comes back positioned. */
	@Override
	public Message<?> beforeHandle(Message<?> message, MessageChannel channel, MessageHandler handler) {
		return message.getHeaders().containsKey(VIA_HISTORY) ? null : message;
	}

	/**
	 * Tells every other node to end the user's sessions there, on the user's channel, behind the
	 * messages already published to that user from this thread.
	 * @param id the id of the request, for logs
	 */
	void publishDisconnect(String user, String id) {
		publish(new RelayEnvelope(this.nodeId, id, MessageKind.DISCONNECT, user,
				DestinationKinds.USER_PREFIX + user, System.currentTimeMillis(), null, Map.of(), new byte[0]));
	}

	private void publish(MessageKind kind, String user, String destination, MessageHeaders headers, byte[] payload) {
		publish(envelope(kind, user, destination, headers, payload));
	}

	private RelayEnvelope envelope(MessageKind kind, String user, String destination, MessageHeaders headers,
			byte[] payload) {
		Object id = headers.get(RelayHeaders.MESSAGE_ID);
		Object contentType = headers.get(MessageHeaders.CONTENT_TYPE);
		return new RelayEnvelope(this.nodeId, (id != null) ? id.toString() : this.ids.generateId().toString(),
				kind, user, destination, System.currentTimeMillis(), (contentType != null) ? contentType.toString() : null,
				nativeHeaders(headers), payload);
	}

	private void appendToHistory(MessageKind kind, String user, String destination, MessageHeaders headers,
			byte[] payload) {
		RelayEnvelope envelope = envelope(kind, user, destination, headers, payload);
		byte[] encoded = encode(envelope);
		if (encoded == null) {
			return;
		}
		long start = System.nanoTime();
		this.history
			.append(this.history.streamOf(user, destination), this.channels.channelFor(kind, user, destination), encoded,
					envelope.messageId())
			.whenComplete((position, failure) -> completed(kind, start, failure));
	}

	private byte[] encode(RelayEnvelope envelope) {
		try {
			return this.codec.encode(envelope);
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.UNENCODABLE,
					DestinationKinds.forLog(envelope.destination()) + " (" + ex.getMessage() + ")");
			return null;
		}
	}

	private void completed(MessageKind kind, long start, Throwable failure) {
		if (failure != null) {
			this.metrics.dropped(this.bus.isTimeout(failure) ? DropReason.REDIS_TIMEOUT : DropReason.REDIS_UNAVAILABLE,
					failure.getClass().getSimpleName());
		}
		else {
			this.metrics.published(kind, start);
		}
	}

	private void publish(RelayEnvelope envelope) {
		MessageKind kind = envelope.kind();
		byte[] encoded = encode(envelope);
		if (encoded == null) {
			return;
		}
		long start = System.nanoTime();
		String channel = this.channels.channelFor(kind, envelope.user(), envelope.destination());
		this.sequences.publish(channel, encoded, stamped -> this.bus.publish(channel, stamped))
			.whenComplete((receivers, failure) -> completed(kind, start, failure));
	}

	@SuppressWarnings("unchecked")
	private static Map<String, List<String>> nativeHeaders(MessageHeaders headers) {
		Object nativeHeaders = headers.get(NativeMessageHeaderAccessor.NATIVE_HEADERS);
		return (nativeHeaders instanceof Map<?, ?> map) ? (Map<String, List<String>>) map : Collections.emptyMap();
	}

}
