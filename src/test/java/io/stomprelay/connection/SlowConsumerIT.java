package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.stream.IntStream;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StalledStompSocket;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A client that stops reading is cut once the (small, for the test) send-buffer / send-time limit
 * is exceeded, counted and logged once, while the sessions that read, on its node and on the other,
 * get every message of the burst in order.
 */
@ExtendWith(OutputCaptureExtension.class)
class SlowConsumerIT {

	private static final int MESSAGES = 2_000;

	private static final String[] LIMITS = { "stomp-relay.limits.send-buffer=1MB",
			"stomp-relay.limits.send-time=2s" };

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	@BeforeAll
	static void startCluster() {
		cluster = RelayCluster.start("slow", (Object[]) LIMITS);
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
	}

	@AfterAll
	static void stopCluster() {
		cluster.close();
	}

	@Test
	void clientThatStopsReadingIsCutAndCountedWhileOtherSessionsGetEveryMessage(CapturedOutput output) {
		String topic = "/topic/burst-" + UUID.randomUUID();
		String padding = "x".repeat(4096);
		List<String> expected = IntStream.range(0, MESSAGES).mapToObj(i -> i + ":" + padding).toList();
		try (StalledStompSocket stalled = StalledStompSocket.subscribe(nodeA.port(), topic);
				StompTestClient readerA = StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(user(), "user"));
				StompTestClient readerB = StompTestClient.connect(nodeB.wsUrl(), null)) {
			readerA.subscribe(topic);
			readerB.subscribe(topic);
			double slowBefore = slowConsumers(nodeA);

			long start = System.nanoTime();
			SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
			expected.forEach(body -> template.convertAndSend(topic, body));

			await().atMost(Duration.ofSeconds(30)).until(() -> readerA.bodies(topic).size() >= MESSAGES);
			System.out.println("burst: the reader next to the stalled client got " + MESSAGES
					+ " messages in " + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms");
			await().atMost(Duration.ofSeconds(30)).until(() -> readerB.bodies(topic).size() >= MESSAGES);
			assertThat(readerA.bodies(topic)).containsExactlyElementsOf(expected);
			assertThat(readerB.bodies(topic)).containsExactlyElementsOf(expected);

			await().atMost(Duration.ofSeconds(15))
				.untilAsserted(() -> assertThat(slowConsumers(nodeA)).isEqualTo(slowBefore + 1));
			assertThat(slowConsumers(nodeB)).isZero();
			assertThat(output.getOut().lines().filter(line -> line.contains("slow consumer")))
				.singleElement().asString().contains(nodeA.id());
			assertThat(readerA.isConnected()).isTrue();
			assertThat(readerB.isConnected()).isTrue();
		}
	}

	private static String user() {
		return "reader-" + UUID.randomUUID().toString().substring(0, 8);
	}

	private static double slowConsumers(RelayNode node) {
		return node.bean(MeterRegistry.class).get("stomp.relay.slow.consumers").counter().count();
	}

}
