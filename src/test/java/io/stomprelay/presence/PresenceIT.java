package io.stomprelay.presence;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;

import io.stomprelay.relay.UserDisconnects;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.user.SimpSession;
import org.springframework.messaging.simp.user.SimpSubscription;
import org.springframework.messaging.simp.user.SimpUser;
import org.springframework.messaging.simp.user.SimpUserRegistry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The cluster presence on two real nodes and one real Redis, with real WebSocket sessions and
 * JWTs: the application's {@code SimpUserRegistry} and the HTTP API see every node's sessions
 * within a second of their CONNECTED and lose them within a second of their close, a user is
 * disconnected everywhere, and the per-user limit holds across nodes under racing CONNECTs.
 */
class PresenceIT {

	private static final int MAX_SESSIONS_PER_USER = 3;

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.named("presence",
			"--stomp-relay.limits.max-sessions-per-user=" + MAX_SESSIONS_PER_USER);

	private final HttpClient http = HttpClient.newHttpClient();

	/**
	 * One untimed round before the timed ones: the first CONNECT, script and read of a fresh JVM
	 * pay for class loading and JIT, which the freshness bounds are not about.
	 */
	@BeforeAll
	static void warmUp() {
		String warm = user("warm");
		try (StompTestClient onA = StompTestClient.connect(nodes.a().wsUrl(), TestTokens.valid(warm));
				StompTestClient onB = StompTestClient.connect(nodes.b().wsUrl(), TestTokens.valid(warm))) {
			onA.subscribe("/user/queue/events");
			await().atMost(Duration.ofSeconds(20))
				.until(() -> registry(nodes.b()).getUser(warm) != null && registry(nodes.a()).getUserCount() == 1);
		}
		await().atMost(Duration.ofSeconds(20)).until(() -> registry(nodes.a()).getUser(warm) == null);
	}

	@Test
	void aUsersSessionsOnBothNodesAreSeenFromEitherWithTheirSubscriptionsAndGoneWithinASecondOfTheirClose()
			throws Exception {
		String alice = user("alice");
		StompTestClient onA = connect(nodes.a(), alice).subscribe("/user/queue/events").subscribe("/topic/chat");
		StompTestClient onB = connect(nodes.b(), alice).subscribe("/user/queue/events");

		for (RelayNode node : List.of(nodes.a(), nodes.b())) {
			await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
				SimpUser user = registry(node).getUser(alice);
				assertThat(user).isNotNull();
				assertThat(user.getSessions()).hasSize(2);
				assertThat(subscriptionsOf(user)).containsExactlyInAnyOrder("/user/queue/events", "/topic/chat",
						"/user/queue/events");
			});
		}
		String body = get(nodes.b(), "/api/users/" + alice, admin()).body();
		assertThat(body).contains("\"user\":\"" + alice + "\"")
			.contains("\"node\":\"presence-a\"")
			.contains("\"node\":\"presence-b\"")
			.contains("\"subscriptions\":[\"/user/queue/events\",\"/topic/chat\"]")
			.contains("\"connectedAt\":\"20");

		onA.close();
		for (RelayNode node : List.of(nodes.a(), nodes.b())) {
			await().atMost(Duration.ofSeconds(1))
				.untilAsserted(() -> assertThat(registry(node).getUser(alice).getSessions()).hasSize(1));
		}
		onB.close();
		for (RelayNode node : List.of(nodes.a(), nodes.b())) {
			await().atMost(Duration.ofSeconds(1)).until(() -> registry(node).getUser(alice) == null);
		}
		assertThat(get(nodes.a(), "/api/users/" + alice, admin()).body())
			.isEqualTo("{\"user\":\"" + alice + "\",\"sessions\":[]}");
	}

	@Test
	void theUserCountAndThePresenceEndpointAgreeWithTheSessionsOpen() throws Exception {
		await().atMost(Duration.ofSeconds(2)).until(() -> registry(nodes.a()).getUserCount() == 0);
		String alice = user("alice");
		String bob = user("bob");
		connect(nodes.a(), alice);
		connect(nodes.b(), alice);
		connect(nodes.b(), bob);
		connect(nodes.b(), null);

		await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
			assertThat(registry(nodes.a()).getUserCount()).isEqualTo(2);
			assertThat(registry(nodes.b()).getUsers()).extracting(SimpUser::getName).containsExactlyInAnyOrder(alice, bob);
			assertThat(get(nodes.a(), "/api/presence", admin()).body()).isEqualTo("{\"users\":2,\"sessions\":4,\"nodes\":["
					+ "{\"node\":\"presence-a\",\"sessions\":1},{\"node\":\"presence-b\",\"sessions\":3}],\"complete\":true}");
		});
		Set<SimpSubscription> none = registry(nodes.a()).findSubscriptions(subscription -> true);
		assertThat(none).isEmpty();
	}

	@Test
	void disconnectingAUserClosesHerSessionsOnEveryNodeWithinASecondAndNobodyElses() throws Exception {
		String alice = user("alice");
		String bob = user("bob");
		List<StompTestClient> aliceSessions = List.of(connect(nodes.a(), alice), connect(nodes.b(), alice),
				connect(nodes.b(), alice));
		StompTestClient bobOnA = connect(nodes.a(), bob);
		StompTestClient bobOnB = connect(nodes.b(), bob);

		assertThat(delete(nodes.a(), "/api/users/" + alice + "/sessions", null).statusCode()).isEqualTo(401);
		assertThat(delete(nodes.a(), "/api/users/" + alice + "/sessions", TestTokens.valid(bob)).statusCode())
			.isEqualTo(403);
		assertThat(aliceSessions).allMatch(StompTestClient::isConnected);

		HttpResponse<String> accepted = delete(nodes.a(), "/api/users/" + alice + "/sessions", admin());
		assertThat(accepted.statusCode()).isEqualTo(202);
		assertThat(accepted.body()).matches("\\{\"id\":\"[^\"]+\"}");

		await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
			for (StompTestClient session : aliceSessions) {
				assertThat(session.errors()).startsWith(UserDisconnects.DISCONNECTED_BY_SERVER);
				assertThat(session.isConnected()).isFalse();
			}
		});
		await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
			assertThat(bobOnA.isConnected()).isTrue();
			assertThat(bobOnB.isConnected()).isTrue();
			assertThat(bobOnA.errors()).isEmpty();
			assertThat(bobOnB.errors()).isEmpty();
		});
		await().atMost(Duration.ofSeconds(1)).until(() -> registry(nodes.b()).getUser(alice) == null);
	}

	@Test
	void theJavaApiDisconnectsToo() {
		String carol = user("carol");
		StompTestClient onA = connect(nodes.a(), carol).subscribe("/user/queue/events");
		StompTestClient onB = connect(nodes.b(), carol).subscribe("/user/queue/events");

		nodes.b().bean(ClusterSessions.class).disconnect(carol);

		await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
			assertThat(onA.errors()).startsWith(UserDisconnects.DISCONNECTED_BY_SERVER);
			assertThat(onB.errors()).startsWith(UserDisconnects.DISCONNECTED_BY_SERVER);
		});
	}

	@Test
	void twoConnectsOnTwoNodesRacingForTheLastPlaceLetExactlyOneIn() {
		for (int round = 0; round < 25; round++) {
			String dave = user("dave");
			for (int i = 0; i < MAX_SESSIONS_PER_USER - 1; i++) {
				connect((i % 2 == 0) ? nodes.a() : nodes.b(), dave);
			}
			CompletableFuture<StompTestClient> onA = CompletableFuture.supplyAsync(() -> connect(nodes.a(), dave));
			CompletableFuture<StompTestClient> onB = CompletableFuture.supplyAsync(() -> connect(nodes.b(), dave));
			List<StompTestClient> admitted = new ArrayList<>();
			int refused = 0;
			for (CompletableFuture<StompTestClient> attempt : List.of(onA, onB)) {
				try {
					admitted.add(attempt.join());
				}
				catch (RuntimeException ex) {
					refused++;
				}
			}
			assertThat(admitted).as("round %d", round).hasSize(1);
			assertThat(refused).as("round %d", round).isEqualTo(1);
			await().atMost(Duration.ofSeconds(1))
				.untilAsserted(() -> assertThat(registry(nodes.a()).getUser(dave).getSessions())
					.hasSize(MAX_SESSIONS_PER_USER));
		}
	}

	@Test
	void aNodeThatStopsGracefullyTakesItsSessionsAlongAtOnce() {
		String erin = user("erin");
		try (RelayNode nodeC = RelayNode.start("presence-c", nodes.redis())) {
			connect(nodeC, erin);
			connect(nodes.a(), erin);
			await().atMost(Duration.ofSeconds(1))
				.untilAsserted(() -> assertThat(registry(nodes.a()).getUser(erin).getSessions()).hasSize(2));
			nodeC.close();
			await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> assertThat(
					registry(nodes.a()).getUser(erin).getSessions().stream().map(SimpSession::getId).collect(Collectors.toSet()))
				.hasSize(1));
		}
	}

	private static List<String> subscriptionsOf(SimpUser user) {
		return user.getSessions()
			.stream()
			.flatMap(session -> session.getSubscriptions().stream())
			.map(SimpSubscription::getDestination)
			.toList();
	}

	private static StompTestClient connect(RelayNode node, String user) {
		return nodes.connect(node, user);
	}

	private static SimpUserRegistry registry(RelayNode node) {
		return node.bean(SimpUserRegistry.class);
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

	private static String admin() {
		return TestTokens.valid("ops", "admin");
	}

	private HttpResponse<String> get(RelayNode node, String path, String token) throws Exception {
		return send(HttpRequest.newBuilder(URI.create(node.httpUrl() + path)).GET(), token);
	}

	private HttpResponse<String> delete(RelayNode node, String path, String token) throws Exception {
		return send(HttpRequest.newBuilder(URI.create(node.httpUrl() + path)).DELETE(), token);
	}

	private HttpResponse<String> send(HttpRequest.Builder request, String token) throws Exception {
		if (token != null) {
			request.header("Authorization", "Bearer " + token);
		}
		return this.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
	}

}
