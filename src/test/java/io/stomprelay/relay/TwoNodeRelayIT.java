package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.IntStream;

import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The central promise, on two real nodes against one real Redis with real WebSocket sessions and
 * real JWTs: each message reaches the right sessions on every node, exactly once, in order, and
 * nothing reaches the wrong user.
 */
class TwoNodeRelayIT {

	private static final Duration QUIET = Duration.ofMillis(800);

	static RelayCluster cluster;

	static RelayNode nodeA;

	static RelayNode nodeB;

	private final List<StompTestClient> clients = new ArrayList<>();

	@BeforeAll
	static void startCluster() {
		use(RelayCluster.start("node", OnlyMeTestController.class));
	}

	/** Runs the suite on these nodes (a subclass starts them on another kind of Redis). */
	static void use(RelayCluster nodes) {
		cluster = nodes;
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
	void eventsReachEverySessionOfTheUserOnBothNodesExactlyOnceInOrder() {
		String alice = user("alice");
		StompTestClient aliceA1 = connect(nodeA, alice).subscribe("/user/queue/events");
		StompTestClient aliceA2 = connect(nodeA, alice).subscribe("/user/queue/events");
		StompTestClient aliceB = connect(nodeB, alice).subscribe("/user/queue/events");
		StompTestClient bob = connect(nodeB, user("bob")).subscribe("/user/queue/events");
		StompTestClient anonymous = connect(nodeB, null).subscribe("/user/queue/events");

		aliceA1.send("/app/events", "");

		for (StompTestClient session : List.of(aliceA1, aliceA2, aliceB)) {
			await().atMost(Duration.ofSeconds(5)).until(() -> session.bodies("/user/queue/events").size() >= 3);
		}
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			for (StompTestClient session : List.of(aliceA1, aliceA2, aliceB)) {
				assertThat(session.bodies("/user/queue/events")).containsExactly("1", "2", "3");
			}
			assertThat(bob.received()).isEmpty();
			assertThat(anonymous.received()).isEmpty();
		});
		assertThat(aliceB.received().get(0).headers().getFirst("origin-node")).isEqualTo("node-a");
	}

	@Test
	void anonymousSenderGetsEventsOnlyOnItsOwnSession() {
		StompTestClient sender = connect(nodeA, null).subscribe("/user/queue/events");
		StompTestClient otherOnA = connect(nodeA, null).subscribe("/user/queue/events");
		StompTestClient otherOnB = connect(nodeB, null).subscribe("/user/queue/events");

		sender.send("/app/events", "");

		await().atMost(Duration.ofSeconds(5)).until(() -> sender.bodies("/user/queue/events").size() >= 3);
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(sender.bodies("/user/queue/events")).containsExactly("1", "2", "3");
			assertThat(otherOnA.received()).isEmpty();
			assertThat(otherOnB.received()).isEmpty();
		});
	}

	@Test
	void convertAndSendToUserOnNodeBReachesTheUserOnNodeA() {
		String carol = user("carol");
		StompTestClient carolA = connect(nodeA, carol).subscribe("/user/queue/notes");

		nodeB.bean("brokerMessagingTemplate", SimpMessagingTemplate.class)
			.convertAndSendToUser(carol, "/queue/notes", "hello from b");

		await().atMost(Duration.ofSeconds(5)).until(() -> !carolA.bodies("/user/queue/notes").isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2))
			.untilAsserted(() -> assertThat(carolA.bodies("/user/queue/notes")).containsExactly("hello from b"));
	}

	@Test
	void messagesMuchLargerThanTheConnectionBuffersArriveIntactOnBothNodes() {
		String fay = user("fay");
		StompTestClient fayA = connect(nodeA, fay).subscribe("/user/queue/notes");
		StompTestClient fayB = connect(nodeB, fay).subscribe("/user/queue/notes");
		// 55 KB of UTF-8 with 2-byte characters, written in many 1 KB chunks (the test client takes 64 KB)
		String large = IntStream.range(0, 5_000).mapToObj(i -> "é" + (i % 10) + "abcdefgh").reduce("", String::concat);

		nodeB.bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSendToUser(fay, "/queue/notes",
				large);

		for (StompTestClient session : List.of(fayA, fayB)) {
			await().atMost(Duration.ofSeconds(5)).until(() -> !session.bodies("/user/queue/notes").isEmpty());
		}
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(fayA.bodies("/user/queue/notes")).containsExactly(large);
			assertThat(fayB.bodies("/user/queue/notes")).containsExactly(large);
		});
	}

	@Test
	void topicBroadcastReachesEverySubscriberOnBothNodesOnce() {
		String topic = "/topic/news-" + UUID.randomUUID();
		List<StompTestClient> subscribers = List.of(connect(nodeA, user("dave")).subscribe(topic),
				connect(nodeA, null).subscribe(topic), connect(nodeB, user("erin")).subscribe(topic),
				connect(nodeB, null).subscribe(topic));

		nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend(topic, "breaking");

		for (StompTestClient subscriber : subscribers) {
			await().atMost(Duration.ofSeconds(5)).until(() -> !subscriber.bodies(topic).isEmpty());
		}
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			for (StompTestClient subscriber : subscribers) {
				assertThat(subscriber.bodies(topic)).containsExactly("breaking");
			}
		});
	}

	@Test
	void authenticatedOnlyBroadcastSkipsAnonymousSubscribersOnBothNodes() {
		String topic = "/topic/staff-" + UUID.randomUUID();
		StompTestClient signedInA = connect(nodeA, user("frank")).subscribe(topic);
		StompTestClient signedInB = connect(nodeB, user("grace")).subscribe(topic);
		StompTestClient anonymousA = connect(nodeA, null).subscribe(topic);
		StompTestClient anonymousB = connect(nodeB, null).subscribe(topic);

		nodeA.bean(ClusterMessagingTemplate.class).convertAndSendToAuthenticated(topic, "members only");

		await().atMost(Duration.ofSeconds(5))
			.until(() -> !signedInA.bodies(topic).isEmpty() && !signedInB.bodies(topic).isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(signedInA.bodies(topic)).containsExactly("members only");
			assertThat(signedInB.bodies(topic)).containsExactly("members only");
			assertThat(anonymousA.received()).isEmpty();
			assertThat(anonymousB.received()).isEmpty();
		});
	}

	@Test
	void twoHundredMessagesToOneUserArriveInOrderOnBothNodes() {
		String heidi = user("heidi");
		StompTestClient heidiA = connect(nodeA, heidi).subscribe("/user/queue/seq");
		StompTestClient heidiB = connect(nodeB, heidi).subscribe("/user/queue/seq");
		List<String> expected = IntStream.rangeClosed(1, 200).mapToObj(String::valueOf).toList();

		SimpMessagingTemplate template = nodeB.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		expected.forEach(n -> template.convertAndSendToUser(heidi, "/queue/seq", Integer.valueOf(n)));

		await().atMost(Duration.ofSeconds(10))
			.until(() -> heidiA.bodies("/user/queue/seq").size() >= 200 && heidiB.bodies("/user/queue/seq").size() >= 200);
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(heidiA.bodies("/user/queue/seq")).containsExactlyElementsOf(expected);
			assertThat(heidiB.bodies("/user/queue/seq")).containsExactlyElementsOf(expected);
		});
	}

	@Test
	void sendToUserWithBroadcastFalseStaysOnTheOriginSessionAndIsNotRelayed() {
		String ivan = user("ivan");
		StompTestClient origin = connect(nodeA, ivan).subscribe("/user/queue/only-me");
		StompTestClient sameNode = connect(nodeA, ivan).subscribe("/user/queue/only-me");
		StompTestClient otherNode = connect(nodeB, ivan).subscribe("/user/queue/only-me");
		double publishedBefore = publishedUserMessages(nodeA);

		origin.send("/app/test/only-me", "");

		await().atMost(Duration.ofSeconds(5)).until(() -> !origin.bodies("/user/queue/only-me").isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(origin.bodies("/user/queue/only-me")).containsExactly("only-me");
			assertThat(sameNode.received()).isEmpty();
			assertThat(otherNode.received()).isEmpty();
		});
		assertThat(publishedUserMessages(nodeA)).isEqualTo(publishedBefore);
	}

	@Test
	void aUserMessageCarryingASessionIdThatIsNotOneOfTheUsersSessionsHereStillReachesEveryNode() {
		String olga = user("olga");
		StompTestClient olgaA = connect(nodeA, olga).subscribe("/user/queue/notes");
		StompTestClient olgaB = connect(nodeB, olga).subscribe("/user/queue/notes");
		SimpMessageHeaderAccessor headers = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		headers.setSessionId("a-session-of-another-node");
		headers.setLeaveMutable(true);

		nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class)
			.convertAndSendToUser(olga, "/queue/notes", "for every tab", headers.getMessageHeaders());

		// Spring resolves an unknown session id to every session of the user; so must the relay.
		await().atMost(Duration.ofSeconds(5)).until(() -> !olgaB.bodies("/user/queue/notes").isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(olgaB.bodies("/user/queue/notes")).containsExactly("for every tab");
			assertThat(olgaA.bodies("/user/queue/notes")).containsExactly("for every tab");
		});
	}

	@Test
	void nodeWithoutLocalInterestHoldsNoRedisSubscriptionForThatUserOrDestination() {
		String judy = user("judy");
		String topic = "/topic/local-" + UUID.randomUUID();
		RelayChannels channels = nodeA.bean(RelayChannels.class);
		StompTestClient judyA = connect(nodeA, judy).subscribe(topic);

		assertThat(subscribers(channels.userChannel(judy))).isEqualTo(1);
		assertThat(subscribers(channels.destinationChannel(topic))).isEqualTo(1);
		assertThat(nodeA.bean(ChannelInterest.class).count(channels.userChannel(judy))).isEqualTo(1);
		assertThat(nodeB.bean(ChannelInterest.class).count(channels.userChannel(judy))).isZero();
		assertThat(nodeB.bean(ChannelInterest.class).count(channels.destinationChannel(topic))).isZero();

		StompTestClient judyB = connect(nodeB, judy).subscribe(topic);
		assertThat(subscribers(channels.userChannel(judy))).isEqualTo(2);
		assertThat(subscribers(channels.destinationChannel(topic))).isEqualTo(2);

		judyA.close();
		judyB.close();
		await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
			assertThat(subscribers(channels.userChannel(judy))).isZero();
			assertThat(subscribers(channels.destinationChannel(topic))).isZero();
		});
	}

	@Test
	void chatFromNodeAReachesAnAnonymousSubscriberOnNodeB() {
		StompTestClient listener = connect(nodeB, null).subscribe("/topic/chat");
		StompTestClient kim = connect(nodeA, user("kim"));

		kim.send("/app/chat", "{\"text\":\"hi all\"}");

		await().atMost(Duration.ofSeconds(5)).until(() -> !listener.bodies("/topic/chat").isEmpty());
		assertThat(listener.bodies("/topic/chat").get(0)).contains("\"text\":\"hi all\"").contains("\"node\":\"node-a\"")
			.contains("\"from\":\"kim-");
	}

	@Test
	void directMessageReachesOnlyTheRecipientOnTheOtherNode() {
		String leo = user("leo");
		String mia = user("mia");
		StompTestClient leoA = connect(nodeA, leo).subscribe("/user/queue/direct");
		StompTestClient miaB = connect(nodeB, mia).subscribe("/user/queue/direct");
		StompTestClient bystander = connect(nodeB, user("ned")).subscribe("/user/queue/direct");

		leoA.send("/app/direct", "{\"to\":\"" + mia + "\",\"text\":\"psst\"}");

		await().atMost(Duration.ofSeconds(5)).until(() -> !miaB.bodies("/user/queue/direct").isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			assertThat(miaB.bodies("/user/queue/direct")).hasSize(1);
			assertThat(miaB.bodies("/user/queue/direct").get(0)).contains("\"from\":\"" + leo + "\"")
				.contains("\"text\":\"psst\"");
			assertThat(leoA.received()).isEmpty();
			assertThat(bystander.received()).isEmpty();
		});
	}

	private StompTestClient connect(RelayNode node, String user) {
		StompTestClient client = StompTestClient.connect(node.wsUrl(), (user != null) ? TestTokens.valid(user, "user") : null);
		this.clients.add(client);
		return client;
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

	private static long subscribers(String channel) {
		return cluster.subscribers(channel);
	}

	private static double publishedUserMessages(RelayNode node) {
		return node.bean(io.micrometer.core.instrument.MeterRegistry.class)
			.get("stomp.relay.published")
			.tag("kind", "user")
			.counter()
			.count();
	}

}
