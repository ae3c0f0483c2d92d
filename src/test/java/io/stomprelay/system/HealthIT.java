package io.stomprelay.system;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code /actuator/health} follows Redis: the relay component goes DOWN while the real redis-server
 * is gone and UP again when it is back, while liveness and readiness stay UP throughout (restarting
 * the node would not help, and Redis is shared by every node, so readiness following it would take
 * all nodes out of the load balancer at once). The node id is shown.
 */
class HealthIT {

	private static final Duration WITHIN = Duration.ofSeconds(10);

	private static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

	private static final JsonMapper json = JsonMapper.builder().build();

	private static RedisTestServer redis;

	private static RelayNode node;

	@BeforeAll
	static void startNode() {
		redis = RedisTestServer.start();
		node = RelayNode.start("node-health", redis);
	}

	@AfterAll
	static void stopNode() {
		node.close();
		redis.close();
	}

	@Test
	void relayHealthGoesDownWithRedisAndComesBackWhileReadinessAndLivenessStayUp() throws Exception {
		await().atMost(WITHIN).untilAsserted(() -> {
			Health health = get("/actuator/health");
			assertThat(health.status).isEqualTo(200);
			assertThat(health.body.at("/status").asString()).isEqualTo("UP");
			assertThat(health.body.at("/components/relay/status").asString()).isEqualTo("UP");
			assertThat(health.body.at("/components/relay/details/node").asString()).isEqualTo("node-health");
			assertThat(health.body.at("/components/relay/details/redis").asString()).isEqualTo("connected");
			assertThat(health.body.at("/components/relay/details/deliveryBacklog").isNumber()).isTrue();
			assertThat(health.body.at("/components/relay/details/subscribedChannels").isNumber()).isTrue();
			assertThat(health.body.at("/components/redis/status").asString()).isEqualTo("UP");
			assertThat(get("/actuator/health/readiness").status).isEqualTo(200);
			assertThat(get("/actuator/health/liveness").status).isEqualTo(200);
		});

		redis.stop();
		await().atMost(WITHIN).untilAsserted(() -> {
			Health health = get("/actuator/health");
			assertThat(health.status).isEqualTo(503);
			assertThat(health.body.at("/components/relay/status").asString()).isEqualTo("DOWN");
			assertThat(health.body.at("/components/relay/details/redis").asString()).isEqualTo("disconnected");
			assertThat(health.body.at("/components/relay/details/node").asString()).isEqualTo("node-health");
		});
		// Every node shares the one Redis: readiness must not take them all out of the load balancer.
		Health readiness = get("/actuator/health/readiness");
		assertThat(readiness.status).isEqualTo(200);
		assertThat(readiness.body.at("/status").asString()).isEqualTo("UP");
		Health liveness = get("/actuator/health/liveness");
		assertThat(liveness.status).isEqualTo(200);
		assertThat(liveness.body.at("/status").asString()).isEqualTo("UP");

		redis.restart();
		await().atMost(WITHIN).untilAsserted(() -> {
			Health health = get("/actuator/health");
			assertThat(health.status).isEqualTo(200);
			assertThat(health.body.at("/components/relay/details/redis").asString()).isEqualTo("connected");
			assertThat(health.body.at("/status").asString()).isEqualTo("UP");
		});
	}

	private static Health get(String path) throws Exception {
		HttpResponse<String> response = http.send(
				HttpRequest.newBuilder(URI.create(node.httpUrl() + path)).timeout(Duration.ofSeconds(10)).build(),
				HttpResponse.BodyHandlers.ofString());
		return new Health(response.statusCode(), json.readTree(response.body()));
	}

	private record Health(int status, JsonNode body) {
	}

}
