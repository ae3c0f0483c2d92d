package io.stomprelay.relay;

import java.time.Duration;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.util.AlternativeJdkIdGenerator;
import org.springframework.util.MimeTypeUtils;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What the broker-channel interceptor republishes to the other nodes, and what it leaves local.
 * Whatever it decides, the message continues to the local broker unchanged.
 */
class ClusterRelayInterceptorTest {

	private static final String NODE = "node-a";

	private static final byte[] PAYLOAD = "{\"text\":\"hi\"}".getBytes(StandardCharsets.UTF_8);

	private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

	private final RecordingBus bus = new RecordingBus();

	private final EnvelopeCodec codec = new EnvelopeCodec(1024 * 1024);

	/** Local sessions: s1 is alice's, s2 is anonymous. */
	private final LocalSessions sessions = new LocalSessions() {
		@Override
		public boolean isLocal(String sessionId) {
			return "s1".equals(sessionId) || "s2".equals(sessionId);
		}

		@Override
		public String userOf(String sessionId) {
			return "s1".equals(sessionId) ? "alice" : null;
		}
	};

	private final ClusterRelayInterceptor interceptor = new ClusterRelayInterceptor(NODE, new RelayChannels("t"),
			this.codec, this.bus, new RelayMetrics(this.registry, "node-test"), new AlternativeJdkIdGenerator(),
			this.sessions, new PublishSequences(Duration.ofMinutes(1)));

	private final MessageChannel brokerChannel = (message, timeout) -> true;

	// ---- published

	@Test
	void aUserMessageIsPublishedOnTheUsersChannelWithEverythingPreserved() {
		SimpMessageHeaderAccessor accessor = accessor("/user/alice/queue/x");
		accessor.setContentType(MimeTypeUtils.APPLICATION_JSON);
		accessor.setNativeHeader("x-trace", "abc");
		accessor.addNativeHeader("x-multi", "1");
		accessor.addNativeHeader("x-multi", "2");
		Message<byte[]> message = message(accessor, PAYLOAD);
		long before = System.currentTimeMillis();

		Message<?> result = this.interceptor.preSend(message, this.brokerChannel);

		assertThat(result).isSameAs(message);
		assertThat(this.bus.published).hasSize(1);
		Published published = this.bus.published.get(0);
		assertThat(published.channel()).isEqualTo("t:user:{alice}");
		RelayEnvelope envelope = this.codec.decode(published.bytes());
		assertThat(envelope.kind()).isEqualTo(MessageKind.USER);
		assertThat(envelope.user()).isEqualTo("alice");
		assertThat(envelope.destination()).isEqualTo("/user/alice/queue/x");
		assertThat(envelope.originNode()).isEqualTo(NODE);
		assertThat(envelope.payload()).isEqualTo(PAYLOAD);
		assertThat(envelope.contentType()).isEqualTo("application/json");
		assertThat(envelope.nativeHeaders()).containsEntry("x-trace", List.of("abc"))
			.containsEntry("x-multi", List.of("1", "2"));
		assertThat(envelope.originTimestamp()).isBetween(before, System.currentTimeMillis());
		assertThat(envelope.messageId()).isNotBlank();
		assertThat(UUID.fromString(envelope.messageId())).isNotNull();
		assertThat(publishedCount("user")).isEqualTo(1);
	}

	@Test
	void aTopicMessageIsPublishedAsAllOnTheDestinationChannel() {
		Message<byte[]> message = message(accessor("/topic/chat"), PAYLOAD);

		Message<?> result = this.interceptor.preSend(message, this.brokerChannel);

		assertThat(result).isSameAs(message);
		assertThat(this.bus.published).hasSize(1);
		assertThat(this.bus.published.get(0).channel()).isEqualTo("t:destination:{/topic/chat}");
		RelayEnvelope envelope = this.codec.decode(this.bus.published.get(0).bytes());
		assertThat(envelope.kind()).isEqualTo(MessageKind.ALL);
		assertThat(envelope.user()).isNull();
		assertThat(envelope.destination()).isEqualTo("/topic/chat");
		assertThat(envelope.payload()).isEqualTo(PAYLOAD);
		assertThat(envelope.contentType()).isNull();
		assertThat(envelope.nativeHeaders()).isEmpty();
		assertThat(publishedCount("all")).isEqualTo(1);
	}

	@Test
	void aTopicMessageForAuthenticatedAudienceIsPublishedAsAuthenticated() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setHeader(RelayHeaders.AUDIENCE, RelayHeaders.AUTHENTICATED);

		this.interceptor.preSend(message(accessor, PAYLOAD), this.brokerChannel);

		assertThat(this.bus.published).hasSize(1);
		assertThat(this.bus.published.get(0).channel()).isEqualTo("t:destination:{/topic/chat}");
		assertThat(this.codec.decode(this.bus.published.get(0).bytes()).kind()).isEqualTo(MessageKind.AUTHENTICATED);
		assertThat(publishedCount("authenticated")).isEqualTo(1);
	}

	@Test
	void anUnknownAudienceValueIsPublishedAsAll() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setHeader(RelayHeaders.AUDIENCE, "everyone");

		this.interceptor.preSend(message(accessor, PAYLOAD), this.brokerChannel);

		assertThat(this.codec.decode(this.bus.published.get(0).bytes()).kind()).isEqualTo(MessageKind.ALL);
	}

	@Test
	void theMessageIdHeaderBecomesTheEnvelopesMessageId() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setHeader(RelayHeaders.MESSAGE_ID, "m-42");

		this.interceptor.preSend(message(accessor, PAYLOAD), this.brokerChannel);

		assertThat(this.codec.decode(this.bus.published.get(0).bytes()).messageId()).isEqualTo("m-42");
	}

	@Test
	void messagesWithoutAnIdGetDistinctIds() {
		this.interceptor.preSend(message(accessor("/topic/chat"), PAYLOAD), this.brokerChannel);
		this.interceptor.preSend(message(accessor("/topic/chat"), PAYLOAD), this.brokerChannel);

		assertThat(this.bus.published).hasSize(2);
		assertThat(this.codec.decode(this.bus.published.get(0).bytes()).messageId())
			.isNotEqualTo(this.codec.decode(this.bus.published.get(1).bytes()).messageId());
	}

	@Test
	void anEncodedSlashInTheUserNameIsDecodedForTheChannel() {
		this.interceptor.preSend(message(accessor("/user/org%2Falice/queue/x"), PAYLOAD), this.brokerChannel);

		assertThat(this.bus.published).hasSize(1);
		assertThat(this.bus.published.get(0).channel()).isEqualTo("t:user:{org/alice}");
		RelayEnvelope envelope = this.codec.decode(this.bus.published.get(0).bytes());
		assertThat(envelope.user()).isEqualTo("org/alice");
		assertThat(envelope.destination()).isEqualTo("/user/org%2Falice/queue/x");
	}

	@Test
	void messagesFromOneThreadArePublishedInOrder() {
		for (int i = 0; i < 20; i++) {
			this.interceptor.preSend(message(accessor("/topic/chat"), new byte[] { (byte) i }), this.brokerChannel);
		}

		assertThat(this.bus.published).extracting(p -> this.codec.decode(p.bytes()).payload()[0])
			.containsExactly((byte) 0, (byte) 1, (byte) 2, (byte) 3, (byte) 4, (byte) 5, (byte) 6, (byte) 7, (byte) 8,
					(byte) 9, (byte) 10, (byte) 11, (byte) 12, (byte) 13, (byte) 14, (byte) 15, (byte) 16, (byte) 17,
					(byte) 18, (byte) 19);
	}

	// ---- not published

	@Test
	void aUserMessageAimedAtOneSessionIsNotPublished() {
		SimpMessageHeaderAccessor accessor = accessor("/user/alice/queue/x");
		accessor.setSessionId("s1");
		Message<byte[]> message = message(accessor, PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@Test
	void aReplyToAnAnonymousSendersOwnSessionIsNotPublished() {
		SimpMessageHeaderAccessor accessor = accessor("/user/s2/queue/x");
		accessor.setSessionId("s2");

		this.interceptor.preSend(message(accessor, PAYLOAD), this.brokerChannel);

		assertThat(this.bus.published).isEmpty();
	}

	@ParameterizedTest
	@ValueSource(strings = { "s-on-another-node", "s2" })
	void aUserMessageWithASessionIdThatIsNotOneOfThatUsersLocalSessionsIsPublished(String sessionId) {
		SimpMessageHeaderAccessor accessor = accessor("/user/alice/queue/x");
		accessor.setSessionId(sessionId);

		this.interceptor.preSend(message(accessor, PAYLOAD), this.brokerChannel);

		assertThat(this.bus.published).singleElement()
			.satisfies(published -> assertThat(published.channel()).isEqualTo("t:user:{alice}"));
	}

	@Test
	void aMessageRelayedFromAnotherNodeIsNotPublishedAgain() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setHeader(RelayHeaders.RELAYED_FROM, "node-b");
		Message<byte[]> message = message(accessor, PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@Test
	void aUserMessageRelayedFromAnotherNodeIsNotPublishedAgain() {
		SimpMessageHeaderAccessor accessor = accessor("/user/alice/queue/x");
		accessor.setHeader(RelayHeaders.RELAYED_FROM, "node-b");
		Message<byte[]> message = message(accessor, PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@ParameterizedTest
	@ValueSource(strings = { "/queue/anything", "/app/x", "/topicx/y", "/users/alice/x", "topic/chat", "/user/alice",
			"/user/alice/", "/user//queue/x", "/user/" })
	void destinationsOutsideTheRelayedKindsAreNotPublished(String destination) {
		Message<byte[]> message = message(accessor(destination), PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@Test
	void aMessageWithoutDestinationIsNotPublished() {
		Message<byte[]> message = message(SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE), PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@ParameterizedTest
	@ValueSource(strings = { "SUBSCRIBE", "UNSUBSCRIBE", "CONNECT", "DISCONNECT", "HEARTBEAT", "OTHER" })
	void framesOtherThanMessageAreNotPublished(SimpMessageType type) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(type);
		accessor.setDestination("/topic/chat");
		Message<byte[]> message = message(accessor, PAYLOAD);

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@Test
	void aMessageWithoutAnyTypeIsNotPublished() {
		Message<byte[]> message = MessageBuilder.withPayload(PAYLOAD).build();

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
	}

	@Test
	void aNonBytePayloadIsNotPublishedAndCountedAsDropped() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setLeaveMutable(true);
		Message<String> message = MessageBuilder.createMessage("not bytes", accessor.getMessageHeaders());

		assertThat(this.interceptor.preSend(message, this.brokerChannel)).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
		assertThat(droppedCount("unsupported-payload")).isEqualTo(1);
	}

	@Test
	void aNonBytePayloadOnAnUnrelayedDestinationIsNotCountedAsDropped() {
		SimpMessageHeaderAccessor accessor = accessor("/queue/x");
		accessor.setLeaveMutable(true);
		Message<String> message = MessageBuilder.createMessage("not bytes", accessor.getMessageHeaders());

		this.interceptor.preSend(message, this.brokerChannel);

		assertThat(droppedCount("unsupported-payload")).isZero();
	}

	// ---- failures

	@Test
	void aFailedPublishIsCountedAsRedisUnavailableAndTheMessageStillGoesOn() {
		this.bus.nextResult = CompletableFuture.failedFuture(new IllegalStateException("redis down"));
		Message<byte[]> message = message(accessor("/topic/chat"), PAYLOAD);

		Message<?> result = this.interceptor.preSend(message, this.brokerChannel);

		assertThat(result).isSameAs(message);
		assertThat(droppedCount("redis-unavailable")).isEqualTo(1);
		assertThat(publishedCount("all")).isZero();
	}

	@Test
	void aPublishThatFailsLaterIsCountedWhenItFails() {
		CompletableFuture<Long> pending = new CompletableFuture<>();
		this.bus.nextResult = pending;

		this.interceptor.preSend(message(accessor("/user/alice/queue/x"), PAYLOAD), this.brokerChannel);
		assertThat(droppedCount("redis-unavailable")).isZero();
		assertThat(publishedCount("user")).isZero();

		pending.completeExceptionally(new IllegalStateException("timeout"));
		assertThat(droppedCount("redis-unavailable")).isEqualTo(1);
	}

	@Test
	void aPublishTheBusDidNotConfirmInTimeIsCountedAsRedisTimeout() {
		CompletableFuture<Long> pending = new CompletableFuture<>();
		this.bus.nextResult = pending;

		this.interceptor.preSend(message(accessor("/user/alice/queue/x"), PAYLOAD), this.brokerChannel);
		pending.completeExceptionally(new TimeoutException("not confirmed in time"));

		assertThat(droppedCount("redis-timeout")).isEqualTo(1);
		assertThat(droppedCount("redis-unavailable")).isZero();
	}

	@Test
	void theMessageIsReturnedUnchangedWhetherOrNotItIsPublished() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setNativeHeader("x-trace", "abc");
		Message<byte[]> message = message(accessor, PAYLOAD);
		Object headersBefore = message.getHeaders();

		Message<?> result = this.interceptor.preSend(message, this.brokerChannel);

		assertThat(result).isSameAs(message);
		assertThat(result.getHeaders()).isSameAs(headersBefore);
		assertThat(result.getHeaders()).doesNotContainKey(RelayHeaders.RELAYED_FROM);
		assertThat(result.getPayload()).isSameAs(PAYLOAD);
	}

	/**
	 * A native header value over 65535 UTF-8 bytes cannot be written by {@code DataOutputStream.writeUTF}:
	 * {@link EnvelopeCodec#encode} throws {@code UncheckedIOException} inside {@code preSend}, so the message
	 * is not even delivered to this node's own subscribers. The relay promises local delivery continues
	 * whatever happens to the publish.
	 */
	@Test
	void aMessageThatCannotBeEncodedIsStillDeliveredLocally() {
		SimpMessageHeaderAccessor accessor = accessor("/topic/chat");
		accessor.setNativeHeader("x-big", "x".repeat(70_000));
		Message<byte[]> message = message(accessor, PAYLOAD);

		Message<?> result = this.interceptor.preSend(message, this.brokerChannel);

		assertThat(result).isSameAs(message);
		assertThat(this.bus.published).isEmpty();
		assertThat(droppedCount("unencodable")).isEqualTo(1);
	}

	// ---- helpers

	private static SimpMessageHeaderAccessor accessor(String destination) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		accessor.setDestination(destination);
		return accessor;
	}

	private static Message<byte[]> message(SimpMessageHeaderAccessor accessor, byte[] payload) {
		return MessageBuilder.createMessage(payload, accessor.getMessageHeaders());
	}

	private double droppedCount(String reason) {
		Counter counter = this.registry.find("stomp.relay.dropped").tag("reason", reason).counter();
		assertThat(counter).as("counter stomp.relay.dropped{reason=%s}", reason).isNotNull();
		return counter.count();
	}

	private double publishedCount(String kind) {
		Counter counter = this.registry.find("stomp.relay.published").tag("kind", kind).counter();
		assertThat(counter).as("counter stomp.relay.published{kind=%s}", kind).isNotNull();
		return counter.count();
	}

	record Published(String channel, byte[] bytes) {
	}

	/**
	 * Records publishes and answers each with {@link #nextResult} (by default: one receiver).
	 */
	static final class RecordingBus implements RelayBus {

		final List<Published> published = new ArrayList<>();

		CompletableFuture<Long> nextResult = CompletableFuture.completedFuture(1L);

		@Override
		public CompletableFuture<Long> publish(String channel, byte[] message) {
			this.published.add(new Published(channel, message));
			return this.nextResult;
		}

		@Override
		public CompletableFuture<Void> subscribe(String channel) {
			throw new UnsupportedOperationException();
		}

		@Override
		public void unsubscribe(String channel) {
			throw new UnsupportedOperationException();
		}

		@Override
		public boolean isConnected() {
			return true;
		}

		@Override
		public boolean isTimeout(Throwable publishFailure) {
			return publishFailure instanceof TimeoutException;
		}

	}

}
