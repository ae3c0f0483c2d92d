package io.stomprelay.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * There is no Docker engine here, so this checks that {@code docker-compose.yml}, the
 * {@code Dockerfile} and {@code deploy/nginx.conf} hold together: the compose file parses and
 * matches the contract (Redis, three nodes built from the plain Dockerfile, nginx on 8080), and the
 * real nginx config, pointed at two real test nodes, carries STOMP over WebSocket with no
 * stickiness so a user's sessions through it get their messages across nodes.
 */
class ComposeAndNginxIT {

	private static final Pattern UPSTREAM_SERVERS = Pattern.compile("(?m)^\\s*server node-\\d+:8080;\\s*$\\n?");

	@Test
	@SuppressWarnings("unchecked")
	void composeFileDescribesRedisThreeNodesAndNginx() throws IOException {
		Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("docker-compose.yml")));
		Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
		assertThat(services).containsOnlyKeys("redis", "node-1", "node-2", "node-3", "nginx");
		assertThat((String) services.get("redis").get("image")).startsWith("redis:7");
		for (String node : List.of("node-1", "node-2", "node-3")) {
			Map<String, Object> service = services.get(node);
			Map<String, Object> build = (Map<String, Object>) service.get("build");
			assertThat(build).containsEntry("context", ".").containsEntry("dockerfile", "Dockerfile");
			Map<String, Object> environment = (Map<String, Object>) service.get("environment");
			assertThat(environment).containsEntry("SPRING_DATA_REDIS_URL", "redis://redis:6379")
				.containsEntry("STOMP_RELAY_NODE_ID", node)
				.containsKey("STOMP_RELAY_AUTH_JWT_SECRET");
			assertThat(((String) environment.get("STOMP_RELAY_AUTH_JWT_SECRET")).getBytes(StandardCharsets.UTF_8))
				.hasSizeGreaterThanOrEqualTo(32);
		}
		assertThat((List<String>) services.get("nginx").get("ports")).containsExactly("8080:80");
		assertThat((List<String>) services.get("nginx").get("volumes"))
			.containsExactly("./deploy/nginx.conf:/etc/nginx/nginx.conf:ro");
	}

	@Test
	void dockerfileIsPlainAndRunsTheProductionJar() throws IOException {
		List<String> lines = Files.readAllLines(Path.of("Dockerfile")).stream()
			.filter(line -> !line.isBlank() && !line.startsWith("#"))
			.toList();
		assertThat(lines.get(0)).matches("FROM [a-z0-9./_-]+:[A-Za-z0-9._-]+");
		assertThat(lines).contains("COPY target/stomp-relay.jar /app/stomp-relay.jar");
		assertThat(lines.get(lines.size() - 1)).startsWith("ENTRYPOINT [\"java\"").contains("/app/stomp-relay.jar");
		assertThat(Files.readString(Path.of("deploy/nginx.conf"))).doesNotContain("ip_hash").doesNotContain("sticky")
			.doesNotContain("hash ");
	}

	@Test
	void nginxConfigProxiesStompOverWebSocketToTwoNodesWithoutStickiness() throws Exception {
		Path nginx = Path.of("/usr/sbin/nginx");
		Assumptions.assumeTrue(Files.isExecutable(nginx), () -> {
			System.out.println("skipped: no nginx at /usr/sbin/nginx (Debian's nginx package runs this check)");
			return "skipped: no nginx";
		});
		try (RedisTestServer redis = RedisTestServer.start();
				RelayNode nodeA = RelayNode.start("lb-a", redis);
				RelayNode nodeB = RelayNode.start("lb-b", redis)) {
			Path prefix = Files.createTempDirectory("nginx-test");
			Files.createDirectories(prefix.resolve("logs"));
			int port = RedisTestServer.freePort();
			String config = Files.readString(Path.of("deploy/nginx.conf"));
			assertThat(UPSTREAM_SERVERS.matcher(config).results().count()).isEqualTo(3);
			String upstreams = "        server 127.0.0.1:" + nodeA.port() + ";\n        server 127.0.0.1:" + nodeB.port() + ";\n";
			config = UPSTREAM_SERVERS.matcher(config).replaceFirst(upstreams.replace("$", "\\$"));
			config = UPSTREAM_SERVERS.matcher(config).replaceAll("");
			config = config.replace("listen 80;", "listen 127.0.0.1:" + port + ";")
				.replace("worker_processes auto;", "worker_processes 1;")
				.replace("worker_connections 10240;", "worker_connections 256;");
			Path conf = prefix.resolve("nginx.conf");
			Files.writeString(conf, config);
			Process check = new ProcessBuilder(nginx.toString(), "-t", "-p", prefix + "/", "-c", conf.toString(), "-g",
					"pid " + prefix.resolve("nginx.pid") + "; error_log " + prefix.resolve("logs/error.log") + ";")
				.redirectErrorStream(true).start();
			assertThat(check.waitFor(30, TimeUnit.SECONDS)).isTrue();
			assertThat(check.exitValue()).as(new String(check.getInputStream().readAllBytes())).isZero();
			Process server = new ProcessBuilder(nginx.toString(), "-p", prefix + "/", "-c", conf.toString(), "-g",
					"daemon off; pid " + prefix.resolve("nginx.pid") + "; error_log " + prefix.resolve("logs/error.log") + ";")
				.redirectErrorStream(true).redirectOutput(prefix.resolve("logs/stdout.log").toFile()).start();
			try {
				String url = "ws://127.0.0.1:" + port + "/ws";
				await().atMost(Duration.ofSeconds(10)).ignoreExceptions()
					.until(() -> { StompTestClient.connect(url, null).close(); return true; });
				String user = "vic-" + System.nanoTime();
				List<StompTestClient> sessions = List.of(StompTestClient.connect(url, TestTokens.valid(user, "user")),
						StompTestClient.connect(url, TestTokens.valid(user, "user")),
						StompTestClient.connect(url, TestTokens.valid(user, "user")),
						StompTestClient.connect(url, TestTokens.valid(user, "user")));
				try {
					sessions.forEach(session -> session.subscribe("/user/queue/events"));
					sessions.get(0).send("/app/events", "");
					await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> sessions
						.forEach(session -> assertThat(session.bodies("/user/queue/events")).containsExactly("1", "2", "3")));
					for (RelayNode node : List.of(nodeA, nodeB)) {
						assertThat(node.bean(MeterRegistry.class).get("stomp.relay.sessions").tag("kind", "authenticated")
							.gauge().value()).as("round robin put sessions on %s", node.id()).isGreaterThan(0);
					}
				}
				finally {
					sessions.forEach(StompTestClient::close);
				}
			}
			finally {
				server.destroy();
				server.waitFor(10, TimeUnit.SECONDS);
			}
		}
	}

}
