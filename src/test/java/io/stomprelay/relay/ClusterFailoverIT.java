package io.stomprelay.relay;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisClusterTestServer;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.RoundRobinUsers;
import io.stomprelay.support.RoundRobinUsers.Outcome;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.support.RoundRobinUsers.connected;
import static io.stomprelay.support.RoundRobinUsers.dropped;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A Redis Cluster master fails under traffic. 30 users with one session each on node B (their
 * channels spread over the three shards), a publisher on node A sending to them round robin at about
 * 1,000 messages/s; the master that owns the first user's channel is killed (SIGKILL) and its replica
 * promoted by the cluster. Delivery to that user must resume within 5 s of the promotion (the time is
 * printed), with no message delivered twice and every message lost counted as a drop by one of the
 * nodes. A node whose shard has no master shows the relay {@code DOWN} (health and
 * {@code stomp_relay_redis_connected}) until the promotion. Then the killed node comes back, as a
 * replica of the promoted one, and every message is still delivered exactly once. And a slot moved to another master (a resharding) has its channels
 * subscribed there, by the relay itself.
 */
class ClusterFailoverIT {

	private static final int USERS = 30;

	/** 5 messages every 5 ms: 1,000/s */
	private static final int PER_TICK = 5;

	private static final long TICK_MILLIS = 5;

	private static final String QUEUE = "/user/queue/failover";

	private static final Duration RESUME_LIMIT = Duration.ofSeconds(5);

	private static RelayCluster cluster;

	private static RedisClusterTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private static RoundRobinUsers users;

	@BeforeAll
	static void start() {
		cluster = RelayCluster.startOnRedisCluster("failover");
		redis = cluster.redisCluster();
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
		users = RoundRobinUsers.connect(nodeB, USERS, "failover", QUEUE);
	}

	@AfterAll
	static void stop() {
		users.close();
		cluster.close();
	}

	@Test
	void deliveryResumesWithinFiveSecondsOfThePromotionNothingTwiceAndEveryLossCounted() throws Exception {
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		RelayChannels channels = nodeB.bean(RelayChannels.class);
		String watchedChannel = channels.userChannel(users.names().get(0));
		awaitHealthy();
		double droppedBefore = dropped(nodeA) + dropped(nodeB);
		RawStompSocket watched = users.sessions().get(0);

		ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor();
		AtomicLong sent = new AtomicLong();
		long resumeMillis;
		int killed;
		try {
			ScheduledFuture<?> publishing = users.publishRoundRobin(publisher, template, "f-", sent, PER_TICK, TICK_MILLIS);
			await().atMost(Duration.ofSeconds(10)).until(() -> watched.messages(QUEUE).size() >= 20);

			killed = redis.killMasterOf(watchedChannel);
			long killedAt = System.nanoTime();
			int promoted = redis.awaitPromotion(killed, watchedChannel, Duration.ofSeconds(20));
			long promotedAt = System.nanoTime();
			int arrivedAtPromotion = watched.messages(QUEUE).size();
			await().atMost(RESUME_LIMIT.plusSeconds(10)).pollInterval(Duration.ofMillis(10))
				.until(() -> watched.messages(QUEUE).size() > arrivedAtPromotion);
			resumeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - promotedAt);
			System.out.printf("cluster failover: master :%d killed, :%d promoted %d ms later, delivery resumed %d ms "
					+ "after the promotion%n", killed, promoted, TimeUnit.NANOSECONDS.toMillis(promotedAt - killedAt),
					resumeMillis);

			long resumedAt = sent.get();
			await().atMost(Duration.ofSeconds(10)).until(() -> sent.get() >= resumedAt + 2_000);
			publisher.submit(() -> publishing.cancel(false)).get(5, TimeUnit.SECONDS);
		}
		finally {
			publisher.shutdownNow();
		}
		users.awaitQuiet(Duration.ofSeconds(1), Duration.ofSeconds(20));

		Outcome outcome = users.outcome("f-");
		long lost = sent.get() - outcome.distinct();
		long counted = Math.round(dropped(nodeA) + dropped(nodeB) - droppedBefore);
		System.out.printf("cluster failover: sent %d, received %d, lost %d, counted %d, duplicates %d, "
				+ "sessions out of order %d, moved subscriptions %d, strays %d%n", sent.get(), outcome.distinct(), lost,
				counted, outcome.duplicates(), outcome.outOfOrder(), bus(nodeB).resubscriptions(), bus(nodeB).strays());
		redis.restart(killed);
		assertThat(resumeMillis).as("resume time after the promotion, ms").isLessThanOrEqualTo(RESUME_LIMIT.toMillis());
		assertThat(outcome.duplicates()).as("duplicates").isZero();
		assertThat(outcome.outOfOrder()).as("sessions that got their messages out of order").isZero();
		assertThat(lost).as("lost (sent - received) vs counted drops").isEqualTo(counted);
	}

	@Test
	void aKilledMasterThatComesBackAsAReplicaDeliversNothingTwice() throws Exception {
		awaitHealthy();
		String channel = nodeB.bean(RelayChannels.class).userChannel(users.names().get(1));
		int killed = redis.killMasterOf(channel);
		await().atMost(Duration.ofSeconds(5)).until(() -> connected(nodeB) == 0);
		assertThat(nodeB.bean(RelayHealthIndicator.class).health().getStatus().getCode()).isEqualTo("DOWN");
		redis.awaitPromotion(killed, channel, Duration.ofSeconds(20));
		await().atMost(Duration.ofSeconds(10)).until(() -> connected(nodeB) == 1);
		redis.restart(killed);
		await().atMost(Duration.ofSeconds(20)).until(redis::isHealthy);
		awaitHealthy();
		double droppedBefore = dropped(nodeA) + dropped(nodeB);
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);

		for (int i = 0; i < 10 * USERS; i++) {
			template.convertAndSendToUser(users.names().get(i % USERS), "/queue/failover", "r-" + i);
		}

		await().atMost(Duration.ofSeconds(10)).until(() -> users.outcome("r-").distinct() == 10 * USERS);
		await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
			Outcome outcome = users.outcome("r-");
			assertThat(outcome.duplicates()).isZero();
			assertThat(outcome.outOfOrder()).isZero();
		});
		assertThat(dropped(nodeA) + dropped(nodeB)).isEqualTo(droppedBefore);
	}

	@Test
	void aGracefulFailoverUnderTrafficDeliversNothingTwiceAndCountsEveryLoss() throws Exception {
		awaitHealthy();
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		String channel = nodeB.bean(RelayChannels.class).userChannel(users.names().get(3));
		double droppedBefore = dropped(nodeA) + dropped(nodeB);
		ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor();
		AtomicLong sent = new AtomicLong();
		try {
			ScheduledFuture<?> publishing = users.publishRoundRobin(publisher, template, "g-", sent, PER_TICK, TICK_MILLIS);
			await().atMost(Duration.ofSeconds(10)).until(() -> sent.get() >= 1_000);
			int demoted = redis.failOverShardOf(channel);
			int promoted = redis.awaitPromotion(demoted, channel, Duration.ofSeconds(20));
			System.out.printf("graceful failover: :%d promoted, :%d demoted and still running%n", promoted, demoted);
			long promotedAt = sent.get();
			await().atMost(Duration.ofSeconds(10)).until(() -> sent.get() >= promotedAt + 3_000);
			publisher.submit(() -> publishing.cancel(false)).get(5, TimeUnit.SECONDS);
			// a node learns of a graceful failover from a pushed sunsubscribe, its audit or a topology
			// refresh, whichever comes first: seconds, not a fixed number of messages (one CI run had
			// node B move 3.7 s after the promotion, while the publisher stopped after 3)
			await().atMost(Duration.ofSeconds(10))
				.untilAsserted(() -> assertThat(bus(nodeB).assignments()).containsEntry(channel, "127.0.0.1:" + promoted));
		}
		finally {
			publisher.shutdownNow();
		}
		users.awaitQuiet(Duration.ofSeconds(1), Duration.ofSeconds(20));

		Outcome outcome = users.outcome("g-");
		long lost = sent.get() - outcome.distinct();
		long counted = Math.round(dropped(nodeA) + dropped(nodeB) - droppedBefore);
		System.out.printf("graceful failover: sent %d, received %d, lost %d, counted %d, duplicates %d, strays %d, "
				+ "repeats not delivered again %d%n", sent.get(), outcome.distinct(), lost, counted, outcome.duplicates(),
				bus(nodeB).strays(), Math.round(repeats(nodeB)));
		assertThat(outcome.duplicates()).as("duplicates").isZero();
		assertThat(outcome.outOfOrder()).as("sessions that got their messages out of order").isZero();
		assertThat(lost).as("lost (sent - received) vs counted drops").isEqualTo(counted);
	}

	@Test
	void aChannelWhoseSlotMovesToAnotherMasterIsSubscribedThereByItself() {
		awaitHealthy();
		String user = users.names().get(2);
		String channel = nodeB.bean(RelayChannels.class).userChannel(user);
		int before = redis.masterPortOf(channel);

		long movedAt = System.nanoTime();
		int after = redis.moveSlotOf(channel);
		await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(20))
			.until(() -> redis.shardSubscribers(channel) == 1);
		System.out.printf("slot move: channel re-subscribed on its new master %d ms after the move began%n",
				TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - movedAt));

		assertThat(after).isNotEqualTo(before);
		assertThat(redis.shardChannels(before)).doesNotContain(channel);
		assertThat(bus(nodeB).assignments()).containsEntry(channel, "127.0.0.1:" + after);
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		for (int i = 0; i < 20; i++) {
			template.convertAndSendToUser(user, "/queue/failover", "m-" + i);
		}
		await().atMost(Duration.ofSeconds(5)).until(() -> users.outcome("m-").distinct() == 20);
		await().during(Duration.ofMillis(800)).atMost(Duration.ofSeconds(3))
			.untilAsserted(() -> assertThat(users.outcome("m-").duplicates()).isZero());
	}

	/** Both nodes connected and node B (only) subscribed to every user's channel on its shard. */
	private static void awaitHealthy() {
		RelayChannels channels = nodeB.bean(RelayChannels.class);
		await().atMost(Duration.ofSeconds(20)).ignoreExceptions().until(() -> redis.isHealthy() && connected(nodeA) == 1
				&& connected(nodeB) == 1
				&& users.names().stream().allMatch(user -> redis.shardSubscribers(channels.userChannel(user)) == 1));
	}

	private static double repeats(RelayNode node) {
		return node.bean(io.micrometer.core.instrument.MeterRegistry.class).get("stomp.relay.duplicates").counter().count();
	}

	private static RedisClusterRelayBus bus(RelayNode node) {
		return node.bean(RedisClusterRelayBus.class);
	}

}
