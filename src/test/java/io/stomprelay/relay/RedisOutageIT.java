package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Kills the real redis-server under two running nodes and brings it back on the same port: local
 * delivery goes on, every cluster publish that cannot be made is counted and logged (rate-limited),
 * publishing never blocks, and the nodes reconnect, resubscribe every channel their sessions need
 * (also those asked for during the outage) and relay again. Prints the measured resume time.
 */
@ExtendWith(OutputCaptureExtension.class)
class RedisOutageIT {

	private static final Duration QUIET = Duration.ofMillis(800);

	private static final Duration OUTAGE = Duration.ofSeconds(6);

	private static RelayCluster cluster;

	private static RedisTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private final List<StompTestClient> clients = new ArrayList<>();

	@BeforeAll
	static void startCluster() {
		cluster = RelayCluster.start("outage");
		redis = cluster.redis();
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
	}

	@AfterAll
	static void stopCluster() {
		cluster.close();
	}

	@AfterEach
	void closeClients() {
		this.clients.forEach(StompTestClient::close);
	}

	@Test
	void relayKeepsLocalDeliveryCountsDropsAndResumesCrossNodeDeliveryWhenRedisComesBack(CapturedOutput output) {
		String alice = user("alice");
		StompTestClient aliceA1 = connect(nodeA, alice).subscribe("/user/queue/events");
		StompTestClient aliceA2 = connect(nodeA, alice).subscribe("/user/queue/events");
		StompTestClient aliceB = connect(nodeB, alice).subscribe("/user/queue/events");
		SimpMessagingTemplate templateA = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		RelayChannels channels = nodeA.bean(RelayChannels.class);

		redis.stop();
		await().atMost(Duration.ofSeconds(5))
			.until(() -> !nodeA.bean(RelayBus.class).isConnected() && !nodeB.bean(RelayBus.class).isConnected());
		double droppedBefore = redisUnavailableDrops(nodeA);

		long sendStart = System.nanoTime();
		templateA.convertAndSendToUser(alice, "/queue/events", "0");
		assertThat(Duration.ofNanos(System.nanoTime() - sendStart)).isLessThan(Duration.ofMillis(500));
		aliceA1.send("/app/events", "");

		await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
			assertThat(aliceA1.bodies("/user/queue/events")).containsExactly("0", "1", "2", "3");
			assertThat(aliceA2.bodies("/user/queue/events")).containsExactly("0", "1", "2", "3");
			assertThat(redisUnavailableDrops(nodeA)).isGreaterThanOrEqualTo(droppedBefore + 4);
		});
		await().during(QUIET).atMost(QUIET.plusSeconds(2))
			.untilAsserted(() -> assertThat(aliceB.received()).isEmpty());
		assertThat(output.getOut().lines().filter(line -> line.contains("reason=redis-unavailable")))
			.singleElement().asString().contains(nodeA.id());

		String topic = "/topic/outage-" + UUID.randomUUID();
		StompTestClient subscribedDuringOutage = connect(nodeB, null).subscribe(topic);
		// A long enough outage for an unbounded reconnect backoff to grow (Lettuce's default reaches seconds).
		await().during(OUTAGE).atMost(OUTAGE.plusSeconds(2)).untilAsserted(() -> {
			assertThat(nodeA.bean(RelayBus.class).isConnected()).isFalse();
			assertThat(nodeB.bean(RelayBus.class).isConnected()).isFalse();
			assertThat(nodeA.bean(MeterRegistry.class).get("stomp.relay.redis.connected").gauge().value()).isZero();
		});

		long restartStart = System.nanoTime();
		redis.restart();
		System.out.println("redis-server restart took: "
				+ Duration.ofNanos(System.nanoTime() - restartStart).toMillis() + " ms");
		AtomicInteger probes = new AtomicInteger();
		await().atMost(Duration.ofSeconds(10)).pollDelay(Duration.ZERO).pollInterval(Duration.ofMillis(20)).until(() -> {
			templateA.convertAndSendToUser(alice, "/queue/events", "probe-" + probes.incrementAndGet());
			return aliceB.bodies("/user/queue/events").stream().anyMatch(body -> body.startsWith("probe-"));
		});
		long resumeMillis = Duration.ofNanos(System.nanoTime() - restartStart).toMillis();
		System.out.println("redis resume time: " + resumeMillis + " ms");
		assertThat(resumeMillis).isLessThan(10_000);

		RedisClient inspector = RedisClient.create(redis.url());
		try (StatefulRedisConnection<String, String> inspection = inspector.connect()) {
			await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
				assertThat(subscribers(inspection, channels.userChannel(alice))).isEqualTo(2);
				assertThat(subscribers(inspection, channels.destinationChannel(topic))).isEqualTo(1);
			});
		}
		finally {
			inspector.shutdown();
		}
		templateA.convertAndSend(topic, "after the outage");
		await().atMost(Duration.ofSeconds(5))
			.untilAsserted(() -> assertThat(subscribedDuringOutage.bodies(topic)).containsExactly("after the outage"));
	}

	private StompTestClient connect(RelayNode node, String user) {
		StompTestClient client = StompTestClient.connect(node.wsUrl(),
				(user != null) ? TestTokens.valid(user, "user") : null);
		this.clients.add(client);
		return client;
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

	private static long subscribers(StatefulRedisConnection<String, String> inspection, String channel) {
		return inspection.sync().pubsubNumsub(channel).getOrDefault(channel, 0L);
	}

	@Test
	void aPublishRedisDoesNotConfirmInTimeIsCountedAsRedisTimeoutNotAsUnavailable() {
		try (RedisTestServer slow = RedisTestServer.start();
				RelayNode node = RelayNode.start("slow-redis", slow, "stomp-relay.redis.command-timeout=300ms")) {
			SimpMessagingTemplate template = node.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
			RedisClient admin = RedisClient.create(slow.url());
			try (StatefulRedisConnection<String, String> connection = admin.connect()) {
				// Redis holds every client's commands for 2 s: connected, but not answering the PUBLISH
				connection.sync().clientPause(2000);
				template.convertAndSend("/topic/paused-" + UUID.randomUUID(), "x");
				await().atMost(Duration.ofSeconds(3))
					.untilAsserted(() -> assertThat(drops(node, DropReason.REDIS_TIMEOUT)).isEqualTo(1));
				assertThat(drops(node, DropReason.REDIS_UNAVAILABLE)).isZero();
				assertThat(node.bean(RelayBus.class).isConnected()).isTrue();
			}
			finally {
				admin.shutdown();
			}
		}
	}

	private static double redisUnavailableDrops(RelayNode node) {
		return drops(node, DropReason.REDIS_UNAVAILABLE);
	}

	private static double drops(RelayNode node, DropReason reason) {
		return node.bean(MeterRegistry.class)
			.get("stomp.relay.dropped")
			.tag("reason", reason.tag())
			.counter()
			.count();
	}

}
