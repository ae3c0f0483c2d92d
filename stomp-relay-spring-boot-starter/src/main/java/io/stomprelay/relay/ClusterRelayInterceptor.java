package io.stomprelay.relay;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.ChannelInterceptor;
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
 */
public class ClusterRelayInterceptor implements ChannelInterceptor {

	private final String nodeId;

	private final RelayChannels channels;

	private final EnvelopeCodec codec;

	private final RelayBus bus;

	private final RelayMetrics metrics;

	private final IdGenerator ids;

	private final LocalSessions sessions;

	private final PublishSequences sequences;

	private volatile boolean active = true;

	public ClusterRelayInterceptor(String nodeId, RelayChannels channels, EnvelopeCodec codec, RelayBus bus,
			RelayMetrics metrics, IdGenerator ids, LocalSessions sessions, PublishSequences sequences) {
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
		publish(kind, user, destination, headers, payload);
		return message;
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
		Object id = headers.get(RelayHeaders.MESSAGE_ID);
		Object contentType = headers.get(MessageHeaders.CONTENT_TYPE);
		publish(new RelayEnvelope(this.nodeId, (id != null) ? id.toString() : this.ids.generateId().toString(),
				kind, user, destination, System.currentTimeMillis(), (contentType != null) ? contentType.toString() : null,
				nativeHeaders(headers), payload));
	}

	private void publish(RelayEnvelope envelope) {
		MessageKind kind = envelope.kind();
		String destination = envelope.destination();
		byte[] encoded;
		try {
			encoded = this.codec.encode(envelope);
		}
		catch (EnvelopeFormatException ex) {
			this.metrics.dropped(DropReason.UNENCODABLE, DestinationKinds.forLog(destination) + " (" + ex.getMessage() + ")");
			return;
		}
		long start = System.nanoTime();
		String channel = this.channels.channelFor(kind, envelope.user(), destination);
		this.sequences.publish(channel, encoded, stamped -> this.bus.publish(channel, stamped))
			.whenComplete((receivers, failure) -> {
				if (failure != null) {
					this.metrics.dropped(this.bus.isTimeout(failure) ? DropReason.REDIS_TIMEOUT : DropReason.REDIS_UNAVAILABLE,
							failure.getClass().getSimpleName());
				}
				else {
					this.metrics.published(kind, start);
				}
			});
	}

	@SuppressWarnings("unchecked")
	private static Map<String, List<String>> nativeHeaders(MessageHeaders headers) {
		Object nativeHeaders = headers.get(NativeMessageHeaderAccessor.NATIVE_HEADERS);
		return (nativeHeaders instanceof Map<?, ?> map) ? (Map<String, List<String>>) map : Collections.emptyMap();
	}

}
