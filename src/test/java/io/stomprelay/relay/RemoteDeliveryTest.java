package io.stomprelay.relay;

import io.stomprelay.history.HistoryReceiver;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.util.MimeType;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Envelopes arriving from Redis: another node's are delivered to the local broker on a delivery
 * lane, this node's own echo is ignored, and anything broken or unaccepted is dropped and counted.
 */
class RemoteDeliveryTest {

	private static final String NODE = "node-a";

	private static final Duration WAIT = Duration.ofSeconds(5);

	private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

	private final RelayMetrics metrics = new RelayMetrics(this.registry, "node-test");

	private final EnvelopeCodec codec = new EnvelopeCodec(1024 * 1024);

	private final List<Message<?>> delivered = new CopyOnWriteArrayList<>();

	private final MessageChannel brokerChannel = (message, timeout) -> this.delivered.add(message);

	private final ObjectProvider<SimpMessagingTemplate> template = new StaticListableBeanFactory(
			Map.of("t", new SimpMessagingTemplate(this.brokerChannel)))
		.getBeanProvider(SimpMessagingTemplate.class);

	private DeliveryLanes lanes = new DeliveryLanes(1, 10);

	private RemoteDelivery delivery = new RemoteDelivery(NODE, this.codec, this.lanes, this.template, this.metrics, new ReceiveGaps(),
			new StaticListableBeanFactory().getBeanProvider(UserDisconnects.class),
			new StaticListableBeanFactory().getBeanProvider(HistoryReceiver.class));

	@AfterEach
	void stopLanes() throws InterruptedException {
		this.lanes.destroy();
	}

	@Test
	void anEnvelopeFromAnotherNodeIsDeliveredWithItsHeadersAndPayload() {
		byte[] payload = "{\"text\":\"hi\"}".getBytes(StandardCharsets.UTF_8);
		RelayEnvelope envelope = new RelayEnvelope("node-b", "m-1", MessageKind.ALL, null, "/topic/chat",
				System.currentTimeMillis(), "application/json", Map.of("x-trace", List.of("abc"), "x-multi",
						List.of("1", "2")), payload);

		this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(envelope));

		await().atMost(WAIT).until(() -> this.delivered.size() == 1);
		Message<?> message = this.delivered.get(0);
		SimpMessageHeaderAccessor headers = SimpMessageHeaderAccessor.wrap(message);
		assertThat(message.getPayload()).isEqualTo(payload);
		assertThat(headers.getMessageType()).isEqualTo(SimpMessageType.MESSAGE);
		assertThat(headers.getDestination()).isEqualTo("/topic/chat");
		assertThat(headers.getHeader(RelayHeaders.RELAYED_FROM)).isEqualTo("node-b");
		assertThat(headers.getHeader(RelayHeaders.MESSAGE_ID)).isEqualTo("m-1");
		assertThat(headers.getHeader(RelayHeaders.AUDIENCE)).isNull();
		assertThat(headers.getContentType()).isEqualTo(MimeType.valueOf("application/json"));
		assertThat(headers.getNativeHeader("x-trace")).containsExactly("abc");
		assertThat(headers.getNativeHeader("x-multi")).containsExactly("1", "2");
		assertThat(headers.getSessionId()).as("not aimed at one session").isNull();
		await().atMost(WAIT).until(() -> counter("stomp.relay.received", "kind", "all") == 1);
	}

	@Test
	void anAuthenticatedEnvelopeIsDeliveredMarkedForTheAuthenticatedAudience() {
		RelayEnvelope envelope = new RelayEnvelope("node-b", "m-2", MessageKind.AUTHENTICATED, null, "/topic/news",
				System.currentTimeMillis(), null, Map.of(), new byte[] { 7 });

		this.delivery.onMessage("t:destination:/topic/news", this.codec.encode(envelope));

		await().atMost(WAIT).until(() -> this.delivered.size() == 1);
		SimpMessageHeaderAccessor headers = SimpMessageHeaderAccessor.wrap(this.delivered.get(0));
		assertThat(headers.getHeader(RelayHeaders.AUDIENCE)).isEqualTo(RelayHeaders.AUTHENTICATED);
		assertThat(headers.getDestination()).isEqualTo("/topic/news");
		assertThat(headers.getContentType()).isNull();
		await().atMost(WAIT).until(() -> counter("stomp.relay.received", "kind", "authenticated") == 1);
	}

	@Test
	void aUserEnvelopeIsDeliveredToTheUserDestination() {
		RelayEnvelope envelope = new RelayEnvelope("node-b", "m-3", MessageKind.USER, "alice", "/user/alice/queue/x",
				System.currentTimeMillis(), null, Map.of(), new byte[] { 1 });

		this.delivery.onMessage("t:user:alice", this.codec.encode(envelope));

		await().atMost(WAIT).until(() -> this.delivered.size() == 1);
		SimpMessageHeaderAccessor headers = SimpMessageHeaderAccessor.wrap(this.delivered.get(0));
		assertThat(headers.getDestination()).isEqualTo("/user/alice/queue/x");
		assertThat(headers.getHeader(RelayHeaders.AUDIENCE)).isNull();
		assertThat(headers.getHeader(RelayHeaders.RELAYED_FROM)).isEqualTo("node-b");
	}

	@Test
	void messagesOnOneChannelAreDeliveredInArrivalOrder() {
		// the lane queue holds 10, so 10 messages are always accepted
		for (int i = 0; i < 10; i++) {
			this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(foreign("m-" + i)));
		}

		await().atMost(WAIT).until(() -> this.delivered.size() == 10);
		assertThat(this.delivered).extracting(m -> m.getHeaders().get(RelayHeaders.MESSAGE_ID))
			.containsExactlyElementsOf(java.util.stream.IntStream.range(0, 10).mapToObj(i -> "m-" + i).toList());
	}

	@Test
	void thisNodesOwnEchoIsIgnoredAndCounted() {
		RelayEnvelope own = new RelayEnvelope(NODE, "m-own", MessageKind.ALL, null, "/topic/chat",
				System.currentTimeMillis(), null, Map.of(), new byte[] { 1 });

		this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(own));
		// one lane: once a later foreign message is delivered, the echo would have been too
		this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(foreign("m-after")));

		await().atMost(WAIT).until(() -> this.delivered.size() >= 1);
		assertThat(this.delivered).singleElement()
			.satisfies(m -> assertThat(m.getHeaders().get(RelayHeaders.MESSAGE_ID)).isEqualTo("m-after"));
		assertThat(counter("stomp.relay.echoes", null, null)).isEqualTo(1);
	}

	@Test
	void garbageBytesAreDroppedAndCountedAsBadEnvelope() {
		this.delivery.onMessage("t:destination:/topic/chat", "garbage".getBytes(StandardCharsets.UTF_8));
		this.delivery.onMessage("t:destination:/topic/chat", new byte[0]);
		this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(foreign("m-after")));

		await().atMost(WAIT).until(() -> this.delivered.size() >= 1);
		assertThat(this.delivered).singleElement()
			.satisfies(m -> assertThat(m.getHeaders().get(RelayHeaders.MESSAGE_ID)).isEqualTo("m-after"));
		assertThat(counter("stomp.relay.dropped", "reason", "bad-envelope")).isEqualTo(2);
		assertThat(this.metrics.droppedCount(DropReason.BAD_ENVELOPE)).isEqualTo(2);
		assertThat(counter("stomp.relay.inbound", null, null)).as("every arrival, broken or not").isEqualTo(3);
		assertThat(counter("stomp.relay.inbound.bytes", null, null))
			.isEqualTo("garbage".length() + this.codec.encode(foreign("m-after")).length);
	}

	@Test
	void anInconsistentEnvelopeIsDroppedAsBadEnvelope() {
		RelayEnvelope queue = new RelayEnvelope("node-b", "m-q", MessageKind.ALL, null, "/queue/private",
				System.currentTimeMillis(), null, Map.of(), new byte[] { 1 });

		this.delivery.onMessage("t:destination:/queue/private", this.codec.encode(queue));

		assertThat(counter("stomp.relay.dropped", "reason", "bad-envelope")).isEqualTo(1);
		assertThat(this.lanes.backlog()).isZero();
	}

	@Test
	void aFullLaneDropsTheMessageAndCountsDeliveryQueueFull() throws Exception {
		this.lanes.destroy();
		this.lanes = new DeliveryLanes(1, 1);
		this.delivery = new RemoteDelivery(NODE, this.codec, this.lanes, this.template, this.metrics, new ReceiveGaps(),
			new StaticListableBeanFactory().getBeanProvider(UserDisconnects.class),
			new StaticListableBeanFactory().getBeanProvider(HistoryReceiver.class));
		CountDownLatch running = new CountDownLatch(1);
		CountDownLatch release = new CountDownLatch(1);
		assertThat(this.lanes.submit("any", () -> {
			running.countDown();
			awaitQuietly(release);
		})).isTrue();
		assertThat(running.await(5, TimeUnit.SECONDS)).isTrue();
		assertThat(this.lanes.submit("any", () -> {
		})).as("fills the one queue slot").isTrue();

		this.delivery.onMessage("t:destination:/topic/chat", this.codec.encode(foreign("m-rejected")));

		assertThat(counter("stomp.relay.dropped", "reason", "delivery-queue-full")).isEqualTo(1);
		release.countDown();
		this.lanes.destroy();
		assertThat(this.delivered).isEmpty();
	}

	private static RelayEnvelope foreign(String id) {
		return new RelayEnvelope("node-b", id, MessageKind.ALL, null, "/topic/chat", System.currentTimeMillis(), null,
				Map.of(), new byte[] { 1 });
	}

	private double counter(String name, String tag, String value) {
		Counter counter = (tag != null) ? this.registry.find(name).tag(tag, value).counter()
				: this.registry.find(name).counter();
		assertThat(counter).as("counter %s{%s=%s}", name, tag, value).isNotNull();
		return counter.count();
	}

	private static void awaitQuietly(CountDownLatch latch) {
		try {
			latch.await(10, TimeUnit.SECONDS);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

}
