package io.stomprelay.presence;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;

import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.user.SimpUser;
import org.springframework.messaging.simp.user.SimpUserRegistry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The cluster presence through faults, on real processes: a node killed with SIGKILL (a separate
 * JVM running the production jar) leaves every other node's view within the 15 s the contract
 * allows, and a Redis that restarts empty holds every live session again within 5 s of its
 * return.
 */
class PresenceFaultsIT {

	private static final Path JAR = Path.of("target/stomp-relay.jar");

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.named("faults");

	@Test
	void theSessionsOfANodeKilledWithSigkillLeaveEveryViewWithinFifteenSeconds() throws Exception {
		String alice = user("alice");
		int port = RedisTestServer.freePort();
		Process killed = startProductionNode("faults-k", port);
		try {
			connect("ws://127.0.0.1:" + port + "/ws", alice);
			connect("ws://127.0.0.1:" + port + "/ws", alice);
			connect(nodes.b().wsUrl(), alice);
			await().atMost(Duration.ofSeconds(1))
				.untilAsserted(() -> assertThat(registry(nodes.a()).getUser(alice).getSessions()).hasSize(3));

			long killedAt = System.nanoTime();
			killed.destroyForcibly();
			await().atMost(Duration.ofSeconds(15))
				.pollInterval(Duration.ofMillis(100))
				.untilAsserted(() -> assertThat(registry(nodes.a()).getUser(alice).getSessions()).hasSize(1));
			long gone = Duration.ofNanos(System.nanoTime() - killedAt).toMillis();
			System.out.println("PresenceFaultsIT: a SIGKILLed node's sessions left the view after " + gone + " ms");
			assertThat(registry(nodes.b()).getUser(alice).getSessions()).hasSize(1);
		}
		finally {
			killed.destroyForcibly();
		}
	}

	@Test
	void everyLiveSessionIsListedAgainWithinFiveSecondsOfARestartedRedisReturning() {
		String bob = user("bob");
		connect(nodes.a().wsUrl(), bob).subscribe("/topic/news");
		connect(nodes.b().wsUrl(), bob);
		connect(nodes.b().wsUrl(), null);
		await().atMost(Duration.ofSeconds(1))
			.untilAsserted(() -> assertThat(registry(nodes.a()).getUser(bob).getSessions()).hasSize(2));

		nodes.redis().kill();
		nodes.redis().restart();
		long back = System.nanoTime();

		await().atMost(Duration.ofSeconds(5)).pollInterval(Duration.ofMillis(100)).untilAsserted(() -> {
			SimpUser user = registry(nodes.b()).getUser(bob);
			assertThat(user).isNotNull();
			assertThat(user.getSessions()).hasSize(2);
			assertThat(user.getSessions().stream().flatMap(session -> session.getSubscriptions().stream()))
				.extracting(subscription -> subscription.getDestination())
				.containsExactly("/topic/news");
			assertThat(nodes.a().bean(ClusterSessions.class).summary().join().sessions()).isEqualTo(3);
		});
		System.out.println("PresenceFaultsIT: every session listed again " + Duration.ofNanos(System.nanoTime() - back)
			.toMillis() + " ms after Redis restarted");
	}

	private Process startProductionNode(String nodeId, int port) throws IOException {
		assertThat(JAR).as("the packaged jar (run by 'mvn verify' after 'package')").exists();
		Path log = Files.createTempFile("presence-killed-node", ".log");
		List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-Xmx256m", "-jar", JAR.toString(), "--server.port=" + port,
				"--spring.data.redis.url=" + nodes.redis().url(), "--stomp-relay.node-id=" + nodeId,
				"--stomp-relay.auth.jwt.secret=" + TestTokens.SECRET, "--spring.main.banner-mode=off");
		Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
		HttpClient http = HttpClient.newHttpClient();
		await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(250)).until(() -> {
			assertThat(process.isAlive()).as("the node runs; its log: %s", log).isTrue();
			try {
				return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/actuator/health/readiness"))
					.build(), HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
			}
			catch (IOException ex) {
				return false;
			}
		});
		return process;
	}

	private static StompTestClient connect(String wsUrl, String user) {
		return nodes.connect(wsUrl, user);
	}

	private static SimpUserRegistry registry(RelayNode node) {
		return node.bean(SimpUserRegistry.class);
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

}
