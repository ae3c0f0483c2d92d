package io.stomprelay;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import io.stomprelay.support.RedisClusterTestServer;
import io.stomprelay.support.RedisSentinelTestServer;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The production jar ({@code java -jar target/stomp-relay.jar}) refuses to start, with a clear
 * message and a non-zero exit, when it has no JWT verifier, a too-short secret, or no Redis; and it
 * starts on a Redis Cluster and on a Sentinel set-up.
 */
class ProductionStartupIT {

	private static final Path JAR = Path.of("target/stomp-relay.jar");

	@Test
	void refusesToStartWithoutAJwtVerifier() throws Exception {
		try (RedisTestServer redis = RedisTestServer.start()) {
			Result result = run("--spring.data.redis.url=" + redis.url());
			assertThat(result.exitCode()).isNotZero();
			assertThat(result.output()).contains("stomp-relay cannot start: no JWT verifier is configured.")
				.contains("stomp-relay.auth.jwt.secret");
		}
	}

	@Test
	void refusesToStartWithATooShortSecret() throws Exception {
		try (RedisTestServer redis = RedisTestServer.start()) {
			Result result = run("--spring.data.redis.url=" + redis.url(), "--stomp-relay.auth.jwt.secret=short");
			assertThat(result.exitCode()).isNotZero();
			assertThat(result.output()).contains("stomp-relay.auth.jwt.secret is 5 bytes; HS256 needs at least 32.");
		}
	}

	@Test
	void refusesToStartWithoutRedis() throws Exception {
		int nothingListens = RedisTestServer.freePort();
		Result result = run("--spring.data.redis.url=redis://127.0.0.1:" + nothingListens,
				"--stomp-relay.auth.jwt.secret=" + TestTokens.SECRET);
		assertThat(result.exitCode()).isNotZero();
		assertThat(result.output()).contains("stomp-relay cannot start: cannot connect to Redis at 127.0.0.1:" + nothingListens)
			.contains("spring.data.redis.url");
		assertThat(result.output()).doesNotContain(TestTokens.SECRET);
	}

	@Test
	void startsWithShardedPubSubOnARedisCluster() throws Exception {
		try (RedisClusterTestServer redis = RedisClusterTestServer.start()) {
			runUntilStarted(log -> {
				assertThat(log).contains("Node jar-on-cluster: relay connected to the Redis Cluster at")
					.contains("(3 masters), sharded pub/sub")
					.doesNotContain("cannot start");
				assertThat(redis.shardSubscribers("stomp-relay:node:jar-on-cluster")).as("the node id claim").isEqualTo(1);
			}, "--spring.data.redis.cluster.nodes=" + redis.nodes(), "--stomp-relay.auth.jwt.secret=" + TestTokens.SECRET,
					"--stomp-relay.node-id=jar-on-cluster");
		}
	}

	@Test
	void startsOnTheMasterItsSentinelsName() throws Exception {
		try (RedisSentinelTestServer redis = RedisSentinelTestServer.start()) {
			runUntilStarted(log -> {
				assertThat(log).contains("Node jar-on-sentinel: relay connected to Redis at master "
						+ RedisSentinelTestServer.MASTER_NAME + " of the sentinels").doesNotContain("cannot start");
				assertThat(redis.channels(redis.masterPort())).contains("stomp-relay:node:jar-on-sentinel");
			}, "--spring.data.redis.sentinel.master=" + RedisSentinelTestServer.MASTER_NAME,
					"--spring.data.redis.sentinel.nodes=" + redis.sentinelNodes(),
					"--stomp-relay.auth.jwt.secret=" + TestTokens.SECRET, "--stomp-relay.node-id=jar-on-sentinel");
		}
	}

	/**
	 * Starts the jar, hands its output to {@code whileRunning} once it says it started, then stops it
	 * (its own process only).
	 */
	private static void runUntilStarted(Consumer<String> whileRunning, String... args)
			throws IOException, InterruptedException {
		Path log = Files.createTempFile("startup", ".log");
		Process process = launch(log, args);
		try {
			await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).until(() -> {
				String output = Files.readString(log, StandardCharsets.UTF_8);
				if (!process.isAlive()) {
					throw new AssertionError("the node exited with " + process.exitValue() + ":\n" + output);
				}
				return output.contains("Started StompRelayApplication");
			});
			whileRunning.accept(Files.readString(log, StandardCharsets.UTF_8));
		}
		finally {
			process.destroy();
			if (!process.waitFor(20, TimeUnit.SECONDS)) {
				process.destroyForcibly();
			}
		}
	}

	private static Result run(String... args) throws IOException, InterruptedException {
		Path log = Files.createTempFile("startup", ".log");
		Process process = launch(log, args);
		if (!process.waitFor(60, TimeUnit.SECONDS)) {
			process.destroyForcibly();
			throw new AssertionError("the node neither started nor failed within 60 s");
		}
		return new Result(process.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
	}

	/** Starts the jar on a free port with {@code args}, its output going to {@code log}. */
	private static Process launch(Path log, String... args) throws IOException {
		assertThat(JAR).as("the packaged jar (run by 'mvn verify' after 'package')").exists();
		List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
				"-jar", JAR.toString(), "--server.port=0"));
		command.addAll(List.of(args));
		return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
	}

	private record Result(int exitCode, String output) {
	}

}
