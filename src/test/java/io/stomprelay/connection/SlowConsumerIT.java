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
 * Clients that stop reading are cut once the (small, for the test) send-buffer / send-time limit is
 * exceeded, each counted and logged once, while the sessions that read, on their node and on the
 * other, get every message in order without waiting for them. Three stalled clients, so that they
 * cannot hide behind a small thread pool.
 */
@ExtendWith(OutputCaptureExtension.class)
class SlowConsumerIT {

	private static final int MESSAGES = 2_000;

	private static final int BATCH = 100;

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
	void clientsThatStopReadingAreCutAndCountedWhileOtherSessionsGetEveryMessage(CapturedOutput output) {
		String topic = "/topic/burst-" + UUID.randomUUID();
		String padding = "x".repeat(4096);
		List<String> expected = IntStream.range(0, MESSAGES).mapToObj(i -> i + ":" + padding).toList();
		try (StalledStompSocket stalled = StalledStompSocket.subscribe(nodeA.port(), topic);
				StalledStompSocket stalled2 = StalledStompSocket.subscribe(nodeA.port(), topic);
				StalledStompSocket stalled3 = StalledStompSocket.subscribe(nodeA.port(), topic);
				StompTestClient readerA = StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(user(), "user"));
				StompTestClient readerB = StompTestClient.connect(nodeB.wsUrl(), null)) {
			readerA.subscribe(topic);
			readerB.subscribe(topic);
			double slowBefore = slowConsumers(nodeA);

			long start = System.nanoTime();
			SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
			// Paced by the readers (at most one batch ahead), as a producer they can keep up with:
			// only the stalled clients fall behind.
			for (int sent = 0; sent < MESSAGES; sent += BATCH) {
				expected.subList(sent, sent + BATCH).forEach(body -> template.convertAndSend(topic, body));
				int upTo = sent + BATCH;
				await().atMost(Duration.ofSeconds(10))
					.until(() -> readerA.bodies(topic).size() >= upTo && readerB.bodies(topic).size() >= upTo);
			}
			System.out.println("burst: the readers next to three stalled clients got " + MESSAGES
					+ " messages in " + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms");
			assertThat(readerA.bodies(topic)).containsExactlyElementsOf(expected);
			assertThat(readerB.bodies(topic)).containsExactlyElementsOf(expected);

			await().atMost(Duration.ofSeconds(15))
				.untilAsserted(() -> assertThat(slowConsumers(nodeA)).isEqualTo(slowBefore + 3));
			assertThat(slowConsumers(nodeB)).isZero();
			assertThat(output.getOut().lines().filter(line -> line.contains("slow consumer")))
				.hasSize(3).allMatch(line -> line.contains(nodeA.id()));
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
