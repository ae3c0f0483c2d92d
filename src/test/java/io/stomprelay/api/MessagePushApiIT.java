package io.stomprelay.api;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The HTTP push API on node A delivering to sessions on node B: 202 with an id, 400 problem details
 * for bad input, 401 without a valid token and 403 without role admin.
 */
class MessagePushApiIT {

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private final HttpClient http = HttpClient.newHttpClient();

	private final List<StompTestClient> clients = new ArrayList<>();

	@BeforeAll
	static void start() {
		cluster = RelayCluster.start("api");
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
	}

	@AfterAll
	static void stop() {
		cluster.close();
	}

	@AfterEach
	void closeClients() {
		this.clients.forEach(StompTestClient::close);
	}

	@Test
	void pushToUserIsAcceptedWithAnIdAndReachesTheUserOnTheOtherNode() throws Exception {
		String user = "quinn-" + UUID.randomUUID().toString().substring(0, 8);
		StompTestClient quinn = track(StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid(user, "user")))
			.subscribe("/user/queue/alerts");

		HttpResponse<String> response = post("/api/messages/users/" + user, admin(),
				"{\"destination\":\"/queue/alerts\",\"payload\":{\"level\":\"high\"}}");

		assertThat(response.statusCode()).isEqualTo(202);
		assertThat(response.body()).matches("\\{\"id\":\"[0-9a-f-]{36}\"\\}");
		await().atMost(Duration.ofSeconds(5)).until(() -> !quinn.bodies("/user/queue/alerts").isEmpty());
		assertThat(quinn.bodies("/user/queue/alerts")).containsExactly("{\"level\":\"high\"}");
	}

	@Test
	void pushToAllReachesAnonymousSubscribersAndAuthenticatedOnlySkipsThem() throws Exception {
		String topic = "/topic/ops-" + UUID.randomUUID().toString().substring(0, 8);
		StompTestClient anonymous = track(StompTestClient.connect(nodeB.wsUrl(), null)).subscribe(topic);
		StompTestClient member = track(StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid("rita", "user")))
			.subscribe(topic);

		assertThat(post("/api/messages/all", admin(), "{\"destination\":\"" + topic + "\",\"payload\":\"everyone\"}")
			.statusCode()).isEqualTo(202);
		assertThat(post("/api/messages/authenticated", admin(),
				"{\"destination\":\"" + topic + "\",\"payload\":\"members\"}").statusCode()).isEqualTo(202);

		await().atMost(Duration.ofSeconds(5)).until(() -> member.bodies(topic).size() == 2);
		await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(3)).untilAsserted(() -> {
			assertThat(member.bodies(topic)).containsExactly("\"everyone\"", "\"members\"");
			assertThat(anonymous.bodies(topic)).containsExactly("\"everyone\"");
		});
	}

	@Test
	void badDestinationIsRejectedWithProblemDetails() throws Exception {
		HttpResponse<String> toTopic = post("/api/messages/users/sam", admin(), "{\"destination\":\"/topic/x\",\"payload\":1}");
		HttpResponse<String> traversal = post("/api/messages/all", admin(), "{\"destination\":\"/topic/../queue/x\",\"payload\":1}");
		HttpResponse<String> wildcard = post("/api/messages/all", admin(), "{\"destination\":\"/topic/*\",\"payload\":1}");
		List<HttpResponse<String>> responses = new ArrayList<>(List.of(toTopic, traversal, wildcard));
		for (String destination : List.of("/topic//x", "/topic/a?b", "/topic/a%2Fb", "/topic/a;b", "/topic/x/",
				"/topic/" + "x".repeat(250))) {
			responses.add(post("/api/messages/all", admin(), "{\"destination\":\"" + destination + "\",\"payload\":1}"));
		}

		for (HttpResponse<String> response : responses) {
			assertThat(response.statusCode()).isEqualTo(400);
			assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(
					type -> assertThat(type).startsWith("application/problem+json"));
			assertThat(response.body()).contains("\"title\":\"Invalid destination\"");
		}
	}

	@Test
	void badBodyIsRejectedWithProblemDetails() throws Exception {
		HttpResponse<String> notJson = post("/api/messages/all", admin(), "{not json");
		HttpResponse<String> noPayload = post("/api/messages/all", admin(), "{\"destination\":\"/topic/x\"}");

		assertThat(notJson.statusCode()).isEqualTo(400);
		assertThat(notJson.body()).contains("\"status\":400").doesNotContain("Exception").doesNotContain("at ");
		assertThat(noPayload.statusCode()).isEqualTo(400);
		assertThat(noPayload.body()).contains("Missing payload");
	}

	@Test
	void missingOrInvalidTokenIs401AndNonAdminIs403() throws Exception {
		String body = "{\"destination\":\"/topic/x\",\"payload\":1}";
		assertThat(post("/api/messages/all", null, body).statusCode()).isEqualTo(401);
		assertThat(post("/api/messages/all", TestTokens.expired("admin"), body).statusCode()).isEqualTo(401);
		assertThat(post("/api/messages/all", TestTokens.wronglySigned("admin"), body).statusCode()).isEqualTo(401);
		HttpResponse<String> forbidden = post("/api/messages/all", TestTokens.valid("uma", "user"), body);
		assertThat(forbidden.statusCode()).isEqualTo(403);
		assertThat(forbidden.headers().firstValue("Content-Type"))
			.hasValueSatisfying(type -> assertThat(type).startsWith("application/problem+json"));
		assertThat(forbidden.body()).contains("\"status\":403");
	}

	@Test
	void anAdminTokenWithoutExpiryIs401() throws Exception {
		HttpResponse<String> response = post("/api/messages/all", TestTokens.withoutExpiry("ops", "admin"),
				"{\"destination\":\"/topic/x\",\"payload\":1}");

		assertThat(response.statusCode()).isEqualTo(401);
		assertThat(response.headers().firstValue("Content-Type"))
			.hasValueSatisfying(type -> assertThat(type).startsWith("application/problem+json"));
		assertThat(response.body()).contains("\"status\":401");
	}

	private StompTestClient track(StompTestClient client) {
		this.clients.add(client);
		return client;
	}

	private static String admin() {
		return TestTokens.valid("ops", "admin");
	}

	private HttpResponse<String> post(String path, String token, String body) throws Exception {
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(nodeA.httpUrl() + path))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString(body));
		if (token != null) {
			request.header("Authorization", "Bearer " + token);
		}
		return this.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
	}

}
