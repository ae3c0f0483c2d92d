package io.stomprelay.relay;

import java.time.Duration;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.lettuce.core.RedisClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.RoundRobinUsers;
import io.stomprelay.support.RoundRobinUsers.Outcome;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.support.RoundRobinUsers.connected;
import static io.stomprelay.support.RoundRobinUsers.dropped;
import static org.awaitility.Awaitility.await;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every message lost in a Redis crash is counted. Mirrors the benchmark's {@code user} workload:
 * 200 users with one session each on node B, a publisher on node A sending to them round robin at
 * about 2,000 messages/s for 10 s; the redis-server is killed (SIGKILL) after 3 s and started again
 * on the same port 3 s later. Once all is quiet, the messages that never arrived
 * ({@code sent - distinct received}) must equal the sum of every {@code stomp.relay.dropped}
 * counter of both nodes, with no duplicate and each user's messages in order. Five rounds.
 */
class OutageAccountingIT {

	private static final int USERS = 200;

	private static final int ROUNDS = 5;

	/** 10 messages every 5 ms: 2,000/s */
	private static final int PER_TICK = 10;

	private static final long TICK_MILLIS = 5;

	private static final String QUEUE = "/user/queue/bench";

	private static RelayCluster cluster;

	private static RedisTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private static RoundRobinUsers users;

	@BeforeAll
	static void start() {
		cluster = RelayCluster.start("accounting");
		redis = cluster.redis();
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
		users = RoundRobinUsers.connect(nodeB, USERS, "bench", QUEUE);
	}

	@AfterAll
	static void stop() {
		users.close();
		cluster.close();
	}

	@Test
	void everyMessageLostWhileRedisIsKilledAndRestartedIsCounted() throws Exception {
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		RelayChannels channels = nodeB.bean(RelayChannels.class);
		String[] userChannels = users.names().stream().map(channels::userChannel).toArray(String[]::new);
		SoftAssertions soft = new SoftAssertions();
		for (int round = 0; round < ROUNDS; round++) {
			awaitHealthy(userChannels);
			double droppedBefore = dropped(nodeA) + dropped(nodeB);
			double droppedBeforeA = dropped(nodeA);
			double publishedBefore = published(nodeA);
			long framesBefore = users.totalFrames();

			long sent = publishWhileRedisIsKilledAndRestarted(template, round);

			await().atMost(Duration.ofSeconds(15))
				.until(() -> published(nodeA) - publishedBefore + dropped(nodeA) - droppedBeforeA >= sent);
			users.awaitQuiet(Duration.ofSeconds(1), Duration.ofSeconds(20));

			Outcome outcome = users.outcome(round + "-");
			long counted = Math.round(dropped(nodeA) + dropped(nodeB) - droppedBefore);
			long lost = sent - outcome.distinct();
			System.out.printf("round %d: sent %d, received %d (frames %d), lost %d, counted %d (node A %d, node B %d),"
					+ " duplicates %d, sessions out of order %d%n", round, sent, outcome.distinct(),
					users.totalFrames() - framesBefore, lost, counted, Math.round(dropped(nodeA) - droppedBeforeA),
					Math.round(counted - (dropped(nodeA) - droppedBeforeA)), outcome.duplicates(), outcome.outOfOrder());
			soft.assertThat(lost).as("round %d: lost (sent - received) vs counted drops", round).isEqualTo(counted);
			soft.assertThat(outcome.duplicates()).as("round %d: duplicates", round).isZero();
			soft.assertThat(outcome.outOfOrder()).as("round %d: sessions that got their messages out of order", round)
				.isZero();
		}
		soft.assertAll();
	}

	/**
	 * The silent case: Redis stays up, only node B's subscriber connection is cut (as by a network
	 * blip) while node A keeps publishing successfully. Nothing fails on node A; node B must find and
	 * count what it missed until its re-subscription, from the gaps in node A's sequences.
	 */
	@Test
	void messagesPublishedWhileOnlyTheReceiverReSubscribesAreCountedByTheReceiver() throws Exception {
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		String[] userChannels = users.names().stream().map(nodeB.bean(RelayChannels.class)::userChannel).toArray(String[]::new);
		awaitHealthy(userChannels);
		double droppedBefore = dropped(nodeA) + dropped(nodeB);
		double missedBefore = missed(nodeB);
		long framesBefore = users.totalFrames();
		String round = "blip";
		ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor();
		AtomicLong sent = new AtomicLong();
		RedisClient admin = RedisClient.create(redis.url());
		try (var connection = admin.connect()) {
			ScheduledFuture<?> publishing = users.publishRoundRobin(publisher, template, round + "-", sent, PER_TICK,
					TICK_MILLIS);
			await().atMost(Duration.ofSeconds(5)).until(() -> sent.get() >= 2_000);
			String subscriberOfB = connection.sync().clientList().lines()
				.filter(line -> line.contains("name=stomp-relay:" + nodeB.id() + " ") && !line.contains(" sub=0 "))
				.map(line -> line.substring(line.indexOf("id=") + 3, line.indexOf(' ')))
				.findFirst()
				.orElseThrow();
			connection.sync().clientKill(io.lettuce.core.KillArgs.Builder.id(Long.parseLong(subscriberOfB)));
			long killedAt = sent.get();
			await().atMost(Duration.ofSeconds(10)).until(() -> sent.get() >= killedAt + 4_000);
			publisher.submit(() -> publishing.cancel(false)).get(5, TimeUnit.SECONDS);
		}
		finally {
			publisher.shutdownNow();
			admin.shutdown();
		}
		users.awaitQuiet(Duration.ofSeconds(1), Duration.ofSeconds(20));

		long received = distinctReceived(round + "-");
		long lost = sent.get() - received;
		long counted = Math.round(dropped(nodeA) + dropped(nodeB) - droppedBefore);
		System.out.printf("receiver blip: sent %d, received %d (frames %d), lost %d, counted %d (missed on node B %d)%n",
				sent.get(), received, users.totalFrames() - framesBefore, lost, counted,
				Math.round(missed(nodeB) - missedBefore));
		assertThat(lost).isPositive();
		assertThat(counted).isEqualTo(lost);
		assertThat(Math.round(missed(nodeB) - missedBefore)).isEqualTo(lost);
	}

	private static long distinctReceived(String prefix) {
		Set<String> distinct = new HashSet<>();
		for (RawStompSocket session : users.sessions()) {
			session.messages(QUEUE).stream().filter(body -> body.startsWith(prefix)).forEach(distinct::add);
		}
		return distinct.size();
	}

	private static double missed(RelayNode node) {
		return node.bean(MeterRegistry.class).get("stomp.relay.dropped").tag("reason", "missed").counter().count();
	}

	/**
	 * Publishes round robin for 10 s, killing redis-server after 3 s and starting it again 3 s later.
	 * @return how many messages were sent
	 */
	private static long publishWhileRedisIsKilledAndRestarted(SimpMessagingTemplate template, int round)
			throws Exception {
		ScheduledExecutorService publisher = Executors.newSingleThreadScheduledExecutor();
		ScheduledExecutorService outage = Executors.newSingleThreadScheduledExecutor();
		AtomicLong sent = new AtomicLong();
		try {
			ScheduledFuture<?> publishing = users.publishRoundRobin(publisher, template, round + "-", sent, PER_TICK,
					TICK_MILLIS);
			ScheduledFuture<?> kill = outage.schedule(redis::kill, 3, TimeUnit.SECONDS);
			ScheduledFuture<?> restart = outage.schedule(redis::restart, 6, TimeUnit.SECONDS);
			// on the publisher's own thread, so no tick runs after it
			ScheduledFuture<?> stop = publisher.schedule(() -> publishing.cancel(false), 10, TimeUnit.SECONDS);
			kill.get(15, TimeUnit.SECONDS);
			restart.get(15, TimeUnit.SECONDS);
			stop.get(15, TimeUnit.SECONDS);
			return sent.get();
		}
		finally {
			publisher.shutdownNow();
			outage.shutdownNow();
		}
	}

	/** Both nodes connected to Redis and node B subscribed to every user's channel. */
	private static void awaitHealthy(String[] userChannels) {
		RedisClient inspector = RedisClient.create(redis.url());
		try {
			await().atMost(Duration.ofSeconds(15)).ignoreExceptions().until(() -> {
				if (connected(nodeA) != 1 || connected(nodeB) != 1) {
					return false;
				}
				try (var inspection = inspector.connect()) {
					Map<String, Long> subscribers = inspection.sync().pubsubNumsub(userChannels);
					return subscribers.values().stream().allMatch(n -> n == 1);
				}
			});
		}
		finally {
			inspector.shutdown();
		}
	}

	private static double published(RelayNode node) {
		return node.bean(MeterRegistry.class).get("stomp.relay.published").tag("kind", "user").counter().count();
	}


}
