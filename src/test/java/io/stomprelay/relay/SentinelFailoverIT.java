package io.stomprelay.relay;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.stomprelay.support.RedisSentinelTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.support.RoundRobinUsers.dropped;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Two nodes on a real Sentinel set-up (a master, a replica, three sentinels) through
 * {@code spring.data.redis.sentinel.master} / {@code .nodes}: they relay through the master the
 * sentinels name, and when that master is killed under traffic they follow the sentinels to the
 * promoted replica and subscribe again there. The resume time after the promotion is printed;
 * nothing is delivered twice and every message lost is counted.
 */
class SentinelFailoverIT {

	private static final Duration RESUME_LIMIT = Duration.ofSeconds(5);

	private static RedisSentinelTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	@BeforeAll
	static void start() {
		redis = RedisSentinelTestServer.start();
		Map<String, String> sentinel = Map.of("spring.data.redis.sentinel.master", RedisSentinelTestServer.MASTER_NAME,
				"spring.data.redis.sentinel.nodes", redis.sentinelNodes());
		nodeA = RelayNode.start("sentinel-a", sentinel);
		nodeB = RelayNode.start("sentinel-b", sentinel);
	}

	@AfterAll
	static void stop() {
		nodeA.close();
		nodeB.close();
		redis.close();
	}

	@Test
	void relaysThroughTheMasterTheSentinelsNameAndFollowsItAcrossAFailover() throws Exception {
		String alice = "alice-" + UUID.randomUUID().toString().substring(0, 8);
		String channel = nodeB.bean(RelayChannels.class).userChannel(alice);
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		try (StompTestClient aliceB = StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid(alice, "user"))) {
			aliceB.subscribe("/user/queue/notes");
			assertThat(redis.channels(redis.masterPort())).contains(channel);
			double droppedBefore = dropped(nodeA) + dropped(nodeB);

			ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor();
			AtomicLong sent = new AtomicLong();
			long resumeMillis;
			try {
				ScheduledFuture<?> publishing = publisher.scheduleAtFixedRate(
						() -> template.convertAndSendToUser(alice, "/queue/notes", "s-" + sent.getAndIncrement()), 0, 10,
						TimeUnit.MILLISECONDS);
				await().atMost(Duration.ofSeconds(5)).until(() -> aliceB.bodies("/user/queue/notes").size() >= 20);

				int killed = redis.killMaster();
				long killedAt = System.nanoTime();
				int promoted = redis.awaitFailover(killed, Duration.ofSeconds(30));
				long promotedAt = System.nanoTime();
				int arrivedAtPromotion = aliceB.bodies("/user/queue/notes").size();
				await().atMost(RESUME_LIMIT.plusSeconds(10)).pollInterval(Duration.ofMillis(10))
					.until(() -> aliceB.bodies("/user/queue/notes").size() > arrivedAtPromotion);
				resumeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - promotedAt);
				System.out.printf("sentinel failover: master :%d killed, :%d promoted %d ms later, delivery resumed "
						+ "%d ms after the promotion%n", killed, promoted,
						TimeUnit.NANOSECONDS.toMillis(promotedAt - killedAt), resumeMillis);
				long resumedAt = sent.get();
				await().atMost(Duration.ofSeconds(10)).until(() -> sent.get() >= resumedAt + 100);
				publisher.submit(() -> publishing.cancel(false)).get(5, TimeUnit.SECONDS);
				assertThat(redis.channels(promoted)).contains(channel);
			}
			finally {
				publisher.shutdownNow();
			}
			await().atMost(Duration.ofSeconds(10))
				.until(() -> aliceB.bodies("/user/queue/notes").contains("s-" + (sent.get() - 1)));

			List<String> received = aliceB.bodies("/user/queue/notes");
			long distinct = received.stream().distinct().count();
			long lost = sent.get() - distinct;
			long counted = Math.round(dropped(nodeA) + dropped(nodeB) - droppedBefore);
			System.out.printf("sentinel failover: sent %d, received %d, lost %d, counted %d, duplicates %d%n", sent.get(),
					distinct, lost, counted, received.size() - distinct);
			assertThat(resumeMillis).as("resume time after the promotion, ms").isLessThanOrEqualTo(RESUME_LIMIT.toMillis());
			assertThat(received).doesNotHaveDuplicates();
			assertThat(lost).as("lost (sent - received) vs counted drops").isEqualTo(counted);
		}
	}

}
