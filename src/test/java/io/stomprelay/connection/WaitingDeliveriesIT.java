package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.relay.ClusterMessagingTemplate;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.context.annotation.Configuration;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHandler;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.messaging.support.ExecutorChannelInterceptor;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code stomp.relay.outbound.waiting} counts exactly the messages the broker has handed to this
 * node's sessions that still wait in Spring's ordered outbound queues. A test gate holds the
 * outbound pool's thread on the first message of one destination, so everything published after
 * it waits in that session's queue: the count must be exactly that, stay there, go to zero when
 * the gate opens (with every message delivered in order), and go to zero when the waiting session
 * goes away instead. Around it another session takes a burst back to back, so the counting up and
 * down is also checked under concurrent load; and messages the audience filter keeps from an
 * anonymous session leave nothing counted.
 */
class WaitingDeliveriesIT {

	private static final int HELD = 300;

	private static final int BURST = 3_000;

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	@BeforeAll
	static void startCluster() {
		cluster = RelayCluster.start("waiting", OutboundGate.class);
		nodeA = cluster.nodeA();
	}

	@AfterAll
	static void stopCluster() {
		cluster.close();
	}

	@AfterEach
	void openGate() {
		gate().open();
		await().atMost(Duration.ofSeconds(10)).until(() -> waiting() == 0);
	}

	@Test
	void messagesQueuedBehindOneSessionsHeldFirstAreCountedUntilTheQueueReleasesThem() {
		String held = OutboundGate.PREFIX + UUID.randomUUID();
		String busy = "/topic/busy-" + UUID.randomUUID();
		List<String> heldBodies = IntStream.range(0, HELD).mapToObj(i -> "held-" + i).toList();
		List<String> burstBodies = IntStream.range(0, BURST).mapToObj(i -> "burst-" + i).toList();
		gate().close();
		try (StompTestClient waitingReader = StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(user(), "user"));
				StompTestClient busyReader = StompTestClient.connect(nodeA.wsUrl(), null)) {
			waitingReader.subscribe(held);
			busyReader.subscribe(busy);
			SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);

			heldBodies.forEach(body -> template.convertAndSend(held, body));
			burstBodies.forEach(body -> template.convertAndSend(busy, body));

			await().atMost(Duration.ofSeconds(20)).until(() -> busyReader.bodies(busy).size() == BURST);
			assertThat(busyReader.bodies(busy)).containsExactlyElementsOf(burstBodies);
			// the first is held in the pool's thread, released from the queue: the rest wait
			await().atMost(Duration.ofSeconds(5)).until(() -> waiting() == HELD - 1);
			await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).until(() -> waiting() == HELD - 1);
			assertThat(waitingPerSession()).as("only the held session waits").containsExactly(HELD - 1);
			assertThat(waitingReader.bodies(held)).isEmpty();

			gate().open();
			await().atMost(Duration.ofSeconds(10)).until(() -> waitingReader.bodies(held).size() == HELD);
			assertThat(waitingReader.bodies(held)).containsExactlyElementsOf(heldBodies);
			await().atMost(Duration.ofSeconds(5)).until(() -> waiting() == 0);
		}
	}

	@Test
	void whatWaitsForASessionThatGoesAwayIsNoLongerCounted() {
		String held = OutboundGate.PREFIX + UUID.randomUUID();
		gate().close();
		StompTestClient leaving = StompTestClient.connect(nodeA.wsUrl(), null);
		leaving.subscribe(held);
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		IntStream.range(0, HELD).forEach(i -> template.convertAndSend(held, "held-" + i));
		await().atMost(Duration.ofSeconds(5)).until(() -> waiting() == HELD - 1);

		leaving.close();

		await().atMost(Duration.ofSeconds(10)).until(() -> waiting() == 0);
	}

	@Test
	void messagesKeptFromAnAnonymousSessionAreNotLeftCounted() {
		String topic = "/topic/members-" + UUID.randomUUID();
		List<String> bodies = IntStream.range(0, HELD).mapToObj(i -> "members-" + i).toList();
		try (StompTestClient member = StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(user(), "user"));
				StompTestClient anonymous = StompTestClient.connect(nodeA.wsUrl(), null)) {
			member.subscribe(topic);
			anonymous.subscribe(topic);
			ClusterMessagingTemplate cluster = nodeA.bean(ClusterMessagingTemplate.class);

			bodies.forEach(body -> cluster.convertAndSendToAuthenticated(topic, body));

			await().atMost(Duration.ofSeconds(10)).until(() -> member.bodies(topic).size() == HELD);
			assertThat(member.bodies(topic)).containsExactlyElementsOf(bodies);
			await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(3)).until(() -> waiting() == 0);
			assertThat(anonymous.bodies(topic)).isEmpty();
		}
	}

	private static OutboundGate gate() {
		return nodeA.bean(OutboundGate.class);
	}

	private static double waiting() {
		return nodeA.bean(MeterRegistry.class).get("stomp.relay.outbound.waiting").gauge().value();
	}

	private static List<Integer> waitingPerSession() {
		return nodeA.bean(LocalSessionRegistry.class)
			.all()
			.stream()
			.map(LocalSession::waitingDeliveries)
			.filter(waiting -> waiting != 0)
			.toList();
	}

	private static String user() {
		return "waiting-" + UUID.randomUUID().toString().substring(0, 8);
	}

	/**
	 * Holds the outbound pool's thread, before the handler, on each message to a destination under
	 * {@link #PREFIX} while closed; Spring's ordered delivery then keeps that session's later
	 * messages in its queue.
	 */
	@Configuration(proxyBeanMethods = false)
	static class OutboundGate implements WebSocketMessageBrokerConfigurer {

		static final String PREFIX = "/topic/gate-";

		private volatile CountDownLatch latch = new CountDownLatch(0);

		void close() {
			this.latch = new CountDownLatch(1);
		}

		void open() {
			this.latch.countDown();
		}

		@Override
		public void configureClientOutboundChannel(ChannelRegistration registration) {
			registration.interceptors(new ExecutorChannelInterceptor() {
				@Override
				public Message<?> beforeHandle(Message<?> message, MessageChannel channel, MessageHandler handler) {
					String destination = SimpMessageHeaderAccessor.getDestination(message.getHeaders());
					if (destination != null && destination.startsWith(PREFIX)) {
						try {
							OutboundGate.this.latch.await(30, TimeUnit.SECONDS);
						}
						catch (InterruptedException ex) {
							Thread.currentThread().interrupt();
						}
					}
					return message;
				}
			});
		}

	}

}
