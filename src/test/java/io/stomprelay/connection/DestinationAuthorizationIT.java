package io.stomprelay.connection;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.support.AbstractSubscribableChannel;
import org.springframework.messaging.support.ChannelInterceptor;

import static io.stomprelay.support.ChannelInterceptors.indexOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Destination rules on two nodes: every forbidden SEND or SUBSCRIBE gets an {@code ERROR}
 * ("access denied") and a close, nothing is delivered, and a victim's messages never reach the
 * attacker, on either node. A destination outside {@link DestinationSyntax} gets "invalid
 * destination" before it is authorized, routed or subscribed in Redis.
 */
class DestinationAuthorizationIT {

	private static final Duration QUIET = Duration.ofMillis(700);

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private final List<AutoCloseable> open = new ArrayList<>();

	@BeforeAll
	static void start() {
		cluster = RelayCluster.start("authz");
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
	}

	@AfterAll
	static void stop() {
		cluster.close();
	}

	@AfterEach
	void closeAll() throws Exception {
		for (AutoCloseable closeable : this.open) {
			closeable.close();
		}
	}

	@Test
	void sendToTopicQueueOrUserDestinationsIsDeniedAndNothingIsDelivered() {
		String victim = user("victim");
		StompTestClient chat = track(StompTestClient.connect(nodeB.wsUrl(), null)).subscribe("/topic/chat");
		StompTestClient victimSession = track(StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid(victim, "user")))
			.subscribe("/user/queue/direct");

		double deniedBefore = rejections(nodeA, "access-denied");
		for (String destination : List.of("/topic/chat", "/queue/direct", "/user/" + victim + "/queue/direct",
				"/unknown/place")) {
			RawStompSocket attacker = signedIn(nodeA, user("mallory"));
			attacker.sendFrame("SEND", "{\"from\":\"admin\",\"text\":\"forged\"}", "destination:" + destination,
					"content-type:application/json");
			assertDenied(attacker);
		}
		// counted by the node itself: the server records no Spring Security observations (no timer per
		// authorized frame), so this counter is where denials show
		assertThat(rejections(nodeA, "access-denied")).isEqualTo(deniedBefore + 4);
		assertThat(nodeA.bean(MeterRegistry.class).find("spring.security.authorizations").meters()).isEmpty();

		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(chat.received()).isEmpty();
			assertThat(victimSession.received()).isEmpty();
		});
	}

	@Test
	void anonymousSessionsMayNotChat() {
		StompTestClient chat = track(StompTestClient.connect(nodeB.wsUrl(), null)).subscribe("/topic/chat");
		RawStompSocket anonymous = anonymous(nodeA);
		anonymous.sendFrame("SEND", "{\"text\":\"hi\"}", "destination:/app/chat", "content-type:application/json");
		assertDenied(anonymous);
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> assertThat(chat.received()).isEmpty());
	}

	@Test
	void subscribingToAnotherUsersDestinationsOrSessionQueuesOrPatternsIsDenied() {
		String victim = user("victim");
		StompTestClient victimSession = track(StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(victim, "user")))
			.subscribe("/user/queue/direct");
		List<RawStompSocket> attackers = new ArrayList<>();
		for (String destination : List.of("/user/" + victim + "/queue/direct", "/queue/direct-user" + "abc123",
				"/queue/direct", "/secret/things")) {
			RawStompSocket attacker = signedIn(nodeB, user("eve"));
			attacker.sendFrame("SUBSCRIBE", "", "id:sub-1", "destination:" + destination);
			assertDenied(attacker);
			attackers.add(attacker);
		}
		for (String pattern : List.of("/topic/*", "/topic/chat/**", "/user/*/queue/direct", "/user/victim?*/queue/direct")) {
			RawStompSocket attacker = signedIn(nodeB, user("eve"));
			attacker.sendFrame("SUBSCRIBE", "", "id:sub-1", "destination:" + pattern);
			assertInvalidDestination(attacker);
			attackers.add(attacker);
		}

		nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class)
			.convertAndSendToUser(victim, "/queue/direct", "for the victim only");

		await().atMost(Duration.ofSeconds(5)).until(() -> !victimSession.received().isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(victimSession.bodies("/user/queue/direct")).containsExactly("for the victim only");
			for (RawStompSocket attacker : attackers) {
				assertThat(attacker.firstFrame("MESSAGE")).isNull();
			}
		});
	}

	@Test
	void allowedSendsAndSubscriptionsStillWork() {
		RawStompSocket alice = signedIn(nodeA, user("alice"));
		alice.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/user/queue/events", "receipt:r1");
		await().atMost(Duration.ofSeconds(5)).until(() -> alice.firstFrame("RECEIPT") != null);
		alice.sendFrame("SEND", "", "destination:/app/events");
		await().atMost(Duration.ofSeconds(5)).until(() -> alice.frames().stream().filter(f -> f.startsWith("MESSAGE\n")).count() == 3);
		assertThat(alice.firstFrame("ERROR")).isNull();
	}

	@Test
	void anEmptySegmentDoesNotSlipPastTheChatRule() {
		StompTestClient chat = track(StompTestClient.connect(nodeB.wsUrl(), null)).subscribe("/topic/chat");
		double before = rejections(nodeA, "destination");
		for (String destination : List.of("/app//chat", "//app/chat", "/app/chat/", "/app/./chat")) {
			RawStompSocket anonymous = anonymous(nodeA);
			anonymous.sendFrame("SEND", "{\"text\":\"forged\"}", "destination:" + destination,
					"content-type:application/json");
			assertInvalidDestination(anonymous);
		}
		assertThat(rejections(nodeA, "destination")).isEqualTo(before + 4);
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> assertThat(chat.received()).isEmpty());
	}

	@Test
	void aHugeTopicIsRefusedAndNeverBecomesARedisChannel() {
		String control = "/topic/control-" + UUID.randomUUID().toString().substring(0, 8);
		track(StompTestClient.connect(nodeA.wsUrl(), null)).subscribe(control);
		String huge = "/topic/" + "x".repeat(20_000);
		RawStompSocket client = anonymous(nodeA);
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:" + huge, "receipt:r1");
		assertInvalidDestination(client);
		assertThat(client.firstFrame("RECEIPT")).isNull();
		RedisClient redis = RedisClient.create(cluster.redis().url());
		try (StatefulRedisConnection<String, String> connection = redis.connect()) {
			await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
				List<String> channels = connection.sync().pubsubChannels("*");
				assertThat(channels).anyMatch(channel -> channel.endsWith(":{" + control + "}"));
				assertThat(channels).allSatisfy(channel -> assertThat(channel).doesNotContain("xxxxxxxxxx").hasSizeLessThan(400));
			});
		}
		finally {
			redis.shutdown();
		}
	}

	/**
	 * A refusal while the session's outbound frames are still being written (a busy subscriber):
	 * the ERROR must wait its turn behind them, not be dropped by the close that follows it.
	 */
	@Test
	void aRefusalWhileMessagesStreamToTheSessionStillArrivesAsAnError() throws Exception {
		assertThat(nodeA.bean("subProtocolWebSocketHandler", Object.class)).isInstanceOf(ErrorThenCloseWebSocketHandler.class);
		String flood = "/topic/flood-" + UUID.randomUUID().toString().substring(0, 8);
		List<RawStompSocket> busy = new ArrayList<>();
		for (int i = 0; i < 20; i++) {
			RawStompSocket socket = anonymous(nodeA);
			socket.sendFrame("SUBSCRIBE", "", "id:flood", "destination:" + flood, "receipt:ready");
			socket.awaitFrame("RECEIPT", Duration.ofSeconds(10));
			busy.add(socket);
		}
		SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		java.util.concurrent.atomic.AtomicBoolean publishing = new java.util.concurrent.atomic.AtomicBoolean(true);
		Thread publisher = new Thread(() -> {
			String body = "x".repeat(200);
			while (publishing.get()) {
				template.convertAndSend(flood, body);
				java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
			}
		}, "flood-publisher");
		publisher.start();
		try {
			for (RawStompSocket socket : busy) {
				await().atMost(Duration.ofSeconds(10)).until(() -> socket.messages(flood).size() >= 5);
				socket.sendFrame("SUBSCRIBE", "", "id:bad", "destination:/topic/a?b");
			}
			for (RawStompSocket socket : busy) {
				await().atMost(Duration.ofSeconds(10)).until(socket::isClosed);
				assertThat(socket.firstFrame("ERROR")).as("the last frame before the close").isNotNull();
				assertThat(RawStompSocket.header(socket.firstFrame("ERROR"), "message")).isEqualTo("invalid destination");
			}
		}
		finally {
			publishing.set(false);
			publisher.join();
		}
	}

	@Test
	void patternsEscapesAndOddCharactersAreInvalidDestinations() {
		for (String destination : List.of("/topic/a?b", "/topic/a%2Fb", "/topic/a;b", "/topic/a b", "/topic/a*",
				"/topic/{a}", "/topic/a/../b", "/topic/a..b", "/topic//a", "/topic/", "topic/a", "/topic/é",
				"/topic/" + "x".repeat(250))) {
			RawStompSocket client = signedIn(nodeB, user("eve"));
			client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:" + destination);
			assertInvalidDestination(client);
		}
	}

	@Test
	void theDestinationCheckRunsAfterAuthenticationAndBeforeAuthorization() {
		List<ChannelInterceptor> inbound = nodeA.bean("clientInboundChannel", AbstractSubscribableChannel.class)
			.getInterceptors();
		int authentication = indexOf(inbound, TokenAuthenticationInterceptor.class);
		int destinations = indexOf(inbound, DestinationSyntaxInterceptor.class);
		int authorization = indexOf(inbound, org.springframework.security.messaging.access.intercept.AuthorizationChannelInterceptor.class);
		assertThat(destinations).isGreaterThan(authentication).isLessThan(authorization);
	}

	@Test
	void springSecuritysCsrfCheckIsReplacedDeliberatelyForBearerTokenSessions() {
		assertThat(nodeA.bean("csrfChannelInterceptor", ChannelInterceptor.class))
			.isInstanceOf(DestinationAuthorizationConfiguration.BearerTokenSessionsNeedNoCsrf.class);
		List<ChannelInterceptor> inbound = nodeA.bean("clientInboundChannel", AbstractSubscribableChannel.class)
			.getInterceptors();
		assertThat(inbound).anyMatch(DestinationAuthorizationConfiguration.BearerTokenSessionsNeedNoCsrf.class::isInstance);
		assertThat(inbound).noneMatch(interceptor -> interceptor.getClass().getSimpleName().contains("Csrf")
				&& !(interceptor instanceof DestinationAuthorizationConfiguration.BearerTokenSessionsNeedNoCsrf));
		int authentication = indexOf(inbound, TokenAuthenticationInterceptor.class);
		int authorization = indexOf(inbound, org.springframework.security.messaging.access.intercept.AuthorizationChannelInterceptor.class);
		assertThat(authentication).isNotNegative().isLessThan(authorization);
	}


	private static void assertDenied(RawStompSocket socket) {
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.firstFrame("ERROR") != null);
		assertThat(RawStompSocket.header(socket.firstFrame("ERROR"), "message")).isEqualTo("access denied");
		await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
	}

	private static void assertInvalidDestination(RawStompSocket socket) {
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.firstFrame("ERROR") != null);
		assertThat(RawStompSocket.header(socket.firstFrame("ERROR"), "message")).isEqualTo("invalid destination");
		await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
	}

	private static double rejections(RelayNode node, String limit) {
		return node.bean(MeterRegistry.class).find("stomp.relay.limit.rejections").tag("limit", limit)
			.counters().stream().mapToDouble(counter -> counter.count()).sum();
	}

	private RawStompSocket signedIn(RelayNode node, String user) {
		return connected(node, "Authorization:Bearer " + TestTokens.valid(user, "user"));
	}

	private RawStompSocket anonymous(RelayNode node) {
		return connected(node);
	}

	private RawStompSocket connected(RelayNode node, String... headers) {
		String[] all = new String[headers.length + 1];
		all[0] = "accept-version:1.2";
		System.arraycopy(headers, 0, all, 1, headers.length);
		RawStompSocket socket = RawStompSocket.open(node.wsUrl()).sendFrame("CONNECT", "", all);
		this.open.add(socket);
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.firstFrame("CONNECTED") != null);
		return socket;
	}

	private StompTestClient track(StompTestClient client) {
		this.open.add(client);
		return client;
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

}
