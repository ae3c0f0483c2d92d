package io.stomprelay.deploy;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
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

import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.ConfigurationPropertySources;
import org.springframework.core.env.StandardEnvironment;
import org.springframework.core.env.SystemEnvironmentPropertySource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * There is no Docker engine here, so this checks that {@code docker-compose.yml}, the
 * {@code Dockerfile} and {@code deploy/nginx.conf} hold together: the compose file parses and
 * matches the contract (Redis, three nodes built from the plain Dockerfile, nginx on 8080; the secret
 * from the environment, no demo token endpoint, health details for admins only), and the real nginx
 * config, pointed at two real test nodes run with the compose file's management settings, carries
 * STOMP over WebSocket with no stickiness so a user's sessions through it get their messages across
 * nodes, and refuses the actuator. The optional {@code docker-compose.cluster.yml} (profile
 * {@code cluster}) puts the same nodes on a 3-master Redis Cluster.
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
		}
		assertThat((List<String>) services.get("nginx").get("ports")).containsExactly("8080:80");
		assertThat((List<String>) services.get("nginx").get("volumes"))
			.containsExactly("./deploy/nginx.conf:/etc/nginx/nginx.conf:ro");
	}

	@Test
	@SuppressWarnings("unchecked")
	void theClusterProfileRunsTheSameNodesOnAThreeMasterRedisCluster() throws IOException {
		Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("docker-compose.cluster.yml")));
		Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
		List<String> shards = List.of("redis-shard-1", "redis-shard-2", "redis-shard-3");
		for (String shard : shards) {
			Map<String, Object> service = services.get(shard);
			assertThat((String) service.get("image")).startsWith("redis:7");
			assertThat((List<String>) service.get("profiles")).containsExactly("cluster");
			assertThat(String.join(" ", (List<String>) service.get("command"))).contains("--cluster-enabled yes");
		}
		Map<String, Object> init = services.get("redis-cluster-init");
		assertThat((List<String>) init.get("profiles")).containsExactly("cluster");
		assertThat(String.join(" ", (List<String>) init.get("command"))).contains("redis-cli --cluster create")
			.contains("getent hosts redis-shard-1").contains("getent hosts redis-shard-2")
			.contains("getent hosts redis-shard-3").contains("--cluster-replicas 0");
		for (String node : List.of("node-1", "node-2", "node-3")) {
			Map<String, String> environment = new HashMap<>();
			((Map<String, Object>) services.get(node).get("environment"))
				.forEach((name, value) -> environment.put(name, String.valueOf(value)));
			assertThat(binder(environment).bind("spring.data.redis.cluster.nodes", Bindable.listOf(String.class)).get())
				.as("cluster nodes of %s", node)
				.containsExactly("redis-shard-1:6379", "redis-shard-2:6379", "redis-shard-3:6379");
			assertThat((List<String>) services.get(node).get("depends_on")).containsExactly("redis-cluster-init");
		}
		Map<String, Object> base = new Yaml().load(Files.readString(Path.of("docker-compose.yml")));
		assertThat((Map<String, Object>) base.get("services")).as("the default stays on one Redis")
			.doesNotContainKeys(shards.toArray(String[]::new));
	}

	@Test
	void composeNodesTakeTheSecretFromTheEnvironmentRunNoDemoAndHideHealthDetails() throws IOException {
		for (String node : List.of("node-1", "node-2", "node-3")) {
			Map<String, String> environment = composeEnvironment(node);
			assertThat(environment.get("STOMP_RELAY_AUTH_JWT_SECRET")).as("no literal secret in %s", node)
				.matches("\\$\\{STOMP_RELAY_AUTH_JWT_SECRET:\\?[^}]+\\}");
			Binder binder = binder(environment);
			assertThat(binder.bind("stomp-relay.demo.enabled", Boolean.class).orElse(false)).as("demo in %s", node).isFalse();
			assertThat(managementProperties(environment)).containsExactlyInAnyOrder(
					"management.endpoint.health.show-details=when-authorized", "management.endpoint.health.roles=admin",
					"management.endpoint.health.group.liveness.show-details=never",
					"management.endpoint.health.group.readiness.show-details=never");
		}
		assertThat(Files.readString(Path.of("docker-compose.yml"))).doesNotContainIgnoringCase("DEMO_ENABLED")
			.doesNotContain("change-me");
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
		// the nodes run with the compose file's management settings, which override application.yml
		Object[] management = managementProperties(composeEnvironment("node-1")).stream()
			.map(property -> "--" + property)
			.toArray();
		try (RedisTestServer redis = RedisTestServer.start();
				RelayNode nodeA = RelayNode.start("lb-a", redis, management);
				RelayNode nodeB = RelayNode.start("lb-b", redis, management)) {
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
				for (String path : List.of("/actuator/health", "/actuator/prometheus", "/actuator", "/%61ctuator/health",
						"//actuator/health", "/actuator;x/health", "/ws/../actuator/health")) {
					assertThat(get("http://127.0.0.1:" + port + path, null).statusCode()).as(path).isEqualTo(403);
				}
				String health = nodeA.httpUrl() + "/actuator/health";
				assertThat(get(health, null).body()).contains("\"status\":\"UP\"").doesNotContain("components");
				assertThat(get(health, TestTokens.valid("ops", "user")).body()).doesNotContain("components");
				assertThat(get(health, TestTokens.valid("ops", "admin")).body()).contains("\"relay\"");
				assertThat(get(nodeA.httpUrl() + "/actuator/health/readiness", null).body()).doesNotContain("components");
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


	@SuppressWarnings("unchecked")
	private static Map<String, String> composeEnvironment(String service) throws IOException {
		Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("docker-compose.yml")));
		Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
		Map<String, String> environment = new HashMap<>();
		((Map<String, Object>) services.get(service).get("environment"))
			.forEach((name, value) -> environment.put(name, String.valueOf(value)));
		return environment;
	}

	/** Reads a compose environment the way Spring Boot reads a process environment. */
	private static Binder binder(Map<String, String> environment) {
		Map<String, Object> values = new HashMap<>(environment);
		return new Binder(ConfigurationPropertySources.from(
				new SystemEnvironmentPropertySource("compose-" + StandardEnvironment.SYSTEM_ENVIRONMENT_PROPERTY_SOURCE_NAME,
						values)));
	}

	/** The management properties the compose environment sets, as {@code name=value}. */
	private static List<String> managementProperties(Map<String, String> environment) {
		Binder binder = binder(environment);
		List<String> properties = new ArrayList<>();
		for (String name : List.of("management.endpoint.health.show-details", "management.endpoint.health.roles",
				"management.endpoint.health.group.liveness.show-details",
				"management.endpoint.health.group.readiness.show-details")) {
			binder.bind(name, String.class).ifBound(value -> properties.add(name + "=" + value));
		}
		return properties;
	}

	private static HttpResponse<String> get(String url, String token) throws Exception {
		HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5));
		if (token != null) {
			request.header("Authorization", "Bearer " + token);
		}
		return HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
	}

}
