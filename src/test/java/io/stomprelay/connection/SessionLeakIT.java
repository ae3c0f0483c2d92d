package io.stomprelay.connection;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.TestTokens;
import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.user.SimpUserRegistry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A session refused while its earlier frames still wait for the inbound pool must leave nothing
 * behind. 1,000 times, one WebSocket message carries CONNECT (valid token, fresh user), SUBSCRIBE
 * /topic/leak-N and a SEND the rules deny, while other sessions keep the inbound pool busy: the
 * SEND is refused at once (ERROR "access denied", close) and the CONNECT and SUBSCRIBE are handled
 * after the session is gone. Afterwards the node holds no session, no relay channel and no user of
 * them, locally and in Redis.
 */
class SessionLeakIT {

	private static final int ATTEMPTS = 1_000;

	private static final int CONCURRENCY = 20;

	private static final int BUSY_SESSIONS = 16;

	private static RedisTestServer redis;

	private static RelayNode node;

	private static RedisClient inspector;

	private static StatefulRedisConnection<String, String> inspection;

	@BeforeAll
	static void start() {
		redis = RedisTestServer.start();
		// the busy sessions send far more than the default 100 frames/s each
		node = RelayNode.start("leak", redis, "stomp-relay.limits.inbound-rate=100000",
				"stomp-relay.limits.inbound-burst=100000");
		inspector = RedisClient.create(redis.url());
		inspection = inspector.connect();
	}

	@AfterAll
	static void stop() {
		inspection.close();
		inspector.shutdown();
		node.close();
		redis.close();
	}

	@Test
	void sessionsRefusedWhileTheirConnectAndSubscribeWaitInTheBusyInboundPoolLeaveNothingBehind() throws Exception {
		double sessionsBefore = sessions("authenticated") + sessions("anonymous");
		double channelsBefore = relayChannels();
		RelayChannels channels = node.bean(RelayChannels.class);
		String run = UUID.randomUUID().toString().substring(0, 8);
		List<String> users = new ArrayList<>();
		for (int i = 0; i < ATTEMPTS; i++) {
			users.add("leaker-" + run + "-" + i);
		}

		List<RawStompSocket> busy = new ArrayList<>();
		for (int i = 0; i < BUSY_SESSIONS; i++) {
			RawStompSocket session = RawStompSocket.connected(node.wsUrl(), null);
			session.sendFrame("SUBSCRIBE", "", "id:events", "destination:/user/queue/events");
			busy.add(session);
		}
		ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor();
		ExecutorService attempts = Executors.newFixedThreadPool(CONCURRENCY);
		AtomicInteger busySends = new AtomicInteger();
		List<String> answers;
		try {
			load.scheduleAtFixedRate(() -> busy.forEach(session -> {
				session.sendFrame("SEND", "", "destination:/app/events");
				busySends.incrementAndGet();
			}), 0, 10, TimeUnit.MILLISECONDS);
			await().atMost(Duration.ofSeconds(5)).until(() -> busySends.get() >= 10 * BUSY_SESSIONS);

			List<CompletableFuture<String>> results = new ArrayList<>();
			for (int i = 0; i < ATTEMPTS; i++) {
				int n = i;
				results.add(CompletableFuture.supplyAsync(() -> attempt(users.get(n), "/topic/leak-" + n), attempts));
			}
			answers = new ArrayList<>();
			for (CompletableFuture<String> result : results) {
				answers.add(result.get(60, TimeUnit.SECONDS));
			}
		}
		finally {
			load.shutdownNow();
			attempts.shutdownNow();
			busy.forEach(RawStompSocket::close);
		}
		System.out.println(ATTEMPTS + " refused sessions while " + BUSY_SESSIONS + " sessions sent " + busySends.get()
				+ " SENDs to /app/events");
		// Every refused session is closed and told why first, also when its CONNECTED was being
		// written at that instant (ErrorThenCloseWebSocketHandler).
		assertThat(answers).as("what each refused session was told").allMatch("access denied"::equals);

		SimpUserRegistry registry = node.bean(SimpUserRegistry.class);
		String leakChannels = prefixPattern(channels.destinationChannel("/topic/leak-"));
		String leakUsers = prefixPattern(channels.userChannel("leaker-" + run + "-"));
		try {
			await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> leftBehind(sessionsBefore, channelsBefore,
					registry, users, leakChannels, leakUsers).assertAll());
		}
		finally {
			System.out.println("left behind: " + (sessions("authenticated") + sessions("anonymous") - sessionsBefore)
					+ " relay sessions, " + (relayChannels() - channelsBefore) + " relay channels, "
					+ inspection.sync().pubsubChannels(leakChannels).size() + " /topic/leak-* channels and "
					+ inspection.sync().pubsubChannels(leakUsers).size() + " leaker user channels subscribed in Redis, "
					+ users.stream().filter(user -> registry.getUser(user) != null).count()
					+ " leaker users in the SimpUserRegistry");
		}
	}

	private static SoftAssertions leftBehind(double sessionsBefore, double channelsBefore, SimpUserRegistry registry,
			List<String> users, String leakChannels, String leakUsers) {
		SoftAssertions soft = new SoftAssertions();
		soft.assertThat(sessions("authenticated") + sessions("anonymous"))
			.as("stomp.relay.sessions (authenticated + anonymous)").isEqualTo(sessionsBefore);
		soft.assertThat(relayChannels()).as("stomp.relay.redis.subscriptions").isEqualTo(channelsBefore);
		List<String> channels = inspection.sync().pubsubChannels(leakChannels);
		soft.assertThat(channels.size()).as("PUBSUB CHANNELS " + leakChannels + " (e.g. " + sample(channels) + ")").isZero();
		List<String> userChannels = inspection.sync().pubsubChannels(leakUsers);
		soft.assertThat(userChannels.size()).as("PUBSUB CHANNELS " + leakUsers + " (e.g. " + sample(userChannels) + ")")
			.isZero();
		List<String> registered = users.stream().filter(user -> registry.getUser(user) != null).toList();
		soft.assertThat(registered.size()).as("refused users still in the SimpUserRegistry (e.g. " + sample(registered) + ")")
			.isZero();
		return soft;
	}

	private static List<String> sample(List<String> values) {
		return values.subList(0, Math.min(3, values.size()));
	}

	/**
	 * @return the ERROR message the session got before its close, or what happened instead
	 */
	private static String attempt(String user, String topic) {
		try (RawStompSocket socket = RawStompSocket.open(node.wsUrl())) {
			socket.sendFrames(RawStompSocket.connectFrame(TestTokens.valid(user, "user")),
					RawStompSocket.frame("SUBSCRIBE", "", "id:0", "destination:" + topic),
					RawStompSocket.frame("SEND", "denied", "destination:/topic/x"));
			socket.closeFuture().get(10, TimeUnit.SECONDS);
			String error = socket.firstFrame("ERROR");
			return (error != null) ? RawStompSocket.header(error, "message") : "closed without ERROR";
		}
		catch (Exception ex) {
			return "not closed: " + ex.getClass().getSimpleName();
		}
	}

	private static double sessions(String kind) {
		return node.bean(MeterRegistry.class).get("stomp.relay.sessions").tag("kind", kind).gauge().value();
	}

	private static double relayChannels() {
		return node.bean(MeterRegistry.class).get("stomp.relay.redis.subscriptions").gauge().value();
	}

	/**
	 * @param channel a channel name whose hash-tagged part ends with a name prefix
	 * @return the {@code PUBSUB CHANNELS} pattern of every channel whose name starts with it
	 */
	private static String prefixPattern(String channel) {
		return channel.substring(0, channel.length() - "}".length()) + "*";
	}

}
