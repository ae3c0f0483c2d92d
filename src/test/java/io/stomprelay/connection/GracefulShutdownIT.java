package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A node that is stopped (as on SIGTERM: its application context closes) tells each of its clients
 * to reconnect with an {@code ERROR} frame, is gone within the drain timeout, takes its Redis
 * subscriptions with it, and the other node goes on serving.
 */
class GracefulShutdownIT {

	private static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(5);

	private static RedisTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	@BeforeAll
	static void startCluster() {
		redis = RedisTestServer.start();
		nodeA = RelayNode.start("node-a", redis, "stomp-relay.shutdown.drain-timeout=" + DRAIN_TIMEOUT.toSeconds() + "s");
		nodeB = RelayNode.start("node-b", redis);
	}

	@AfterAll
	static void stopCluster() {
		nodeB.close();
		redis.close();
	}

	@Test
	void stoppingNodeTellsItsClientsToReconnectAndExitsWithinTheDrainTimeoutWhileTheOtherNodeServes()
			throws Exception {
		String alice = "alice-" + UUID.randomUUID().toString().substring(0, 8);
		String topic = "/topic/shutdown-" + UUID.randomUUID();
		RelayChannels channels = nodeA.bean(RelayChannels.class);
		List<StompTestClient> onA = List.of(connect(nodeA, alice).subscribe("/user/queue/events"),
				connect(nodeA, alice).subscribe(topic), connect(nodeA, null).subscribe(topic));
		try (StompTestClient aliceB = connect(nodeB, alice).subscribe("/user/queue/events");
				RedisInspector inspector = new RedisInspector(redis)) {
			assertThat(inspector.subscribers(channels.userChannel(alice))).isEqualTo(2);
			assertThat(inspector.subscribers(channels.destinationChannel(topic))).isEqualTo(1);

			long start = System.nanoTime();
			CompletableFuture<Void> stopped = CompletableFuture.runAsync(nodeA::close);
			stopped.get(DRAIN_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS);
			System.out.println("graceful shutdown: node stopped in "
					+ Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms");

			for (StompTestClient client : onA) {
				await().atMost(Duration.ofSeconds(2)).untilAsserted(() -> {
					assertThat(client.errors()).contains(SessionDrain.SHUTTING_DOWN);
					assertThat(client.isConnected()).isFalse();
				});
				client.close();
			}
			assertThat(inspector.subscribers(channels.userChannel(alice))).isEqualTo(1);
			assertThat(inspector.subscribers(channels.destinationChannel(topic))).isZero();

			aliceB.send("/app/events", "");
			await().atMost(Duration.ofSeconds(5))
				.untilAsserted(() -> assertThat(aliceB.bodies("/user/queue/events")).containsExactly("1", "2", "3"));
		}
	}

	private static StompTestClient connect(RelayNode node, String user) {
		return StompTestClient.connect(node.wsUrl(), (user != null) ? TestTokens.valid(user, "user") : null);
	}

	private static final class RedisInspector implements AutoCloseable {

		private final RedisClient client;

		private final StatefulRedisConnection<String, String> connection;

		RedisInspector(RedisTestServer redis) {
			this.client = RedisClient.create(redis.url());
			this.connection = this.client.connect();
		}

		long subscribers(String channel) {
			return this.connection.sync().pubsubNumsub(channel).getOrDefault(channel, 0L);
		}

		@Override
		public void close() {
			this.connection.close();
			this.client.shutdown();
		}

	}

}
