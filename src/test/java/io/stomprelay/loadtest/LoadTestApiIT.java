package io.stomprelay.loadtest;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The benchmark publisher, when enabled, is guarded like the push API: {@code 401} without a valid
 * token, {@code 403} without role {@code admin}, a run only for an admin.
 */
class LoadTestApiIT {

	private static final String RUN = "{\"mode\":\"topic\",\"rate\":5,\"seconds\":1,\"payloadBytes\":10}";

	private static RedisTestServer redis;

	private static RelayNode node;

	private final HttpClient http = HttpClient.newHttpClient();

	@BeforeAll
	static void start() {
		redis = RedisTestServer.start();
		node = RelayNode.start("loadtest-node", redis, "stomp-relay.loadtest.enabled=true");
	}

	@AfterAll
	static void stop() {
		node.close();
		redis.close();
	}

	@Test
	void withoutATokenARunIsRefusedWith401() throws Exception {
		HttpResponse<String> response = post(null);

		assertThat(response.statusCode()).isEqualTo(401);
		assertThat(response.headers().firstValue("Content-Type"))
			.hasValueSatisfying(type -> assertThat(type).startsWith("application/problem+json"));
		assertThat(response.body()).doesNotContain("\"sent\"");
	}

	@Test
	void withAnExpiredTokenARunIsRefusedWith401() throws Exception {
		assertThat(post(TestTokens.expired("ops")).statusCode()).isEqualTo(401);
	}

	@Test
	void withoutRoleAdminARunIsRefusedWith403() throws Exception {
		HttpResponse<String> response = post(TestTokens.valid("uma", "user"));

		assertThat(response.statusCode()).isEqualTo(403);
		assertThat(response.body()).contains("\"status\":403").doesNotContain("\"sent\"");
	}

	@Test
	void anAdminRunsIt() throws Exception {
		HttpResponse<String> response = post(TestTokens.valid("bench", "admin"));

		assertThat(response.statusCode()).isEqualTo(200);
		assertThat(response.body()).contains("\"mode\":\"topic\"").contains("\"planned\":5").contains("\"sent\":5");
	}

	private HttpResponse<String> post(String token) throws Exception {
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(node.httpUrl() + "/api/loadtest/runs"))
			.header("Content-Type", "application/json")
			.POST(HttpRequest.BodyPublishers.ofString(RUN));
		if (token != null) {
			request.header("Authorization", "Bearer " + token);
		}
		return this.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
	}

}
