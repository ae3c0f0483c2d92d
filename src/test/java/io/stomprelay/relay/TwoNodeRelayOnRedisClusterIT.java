package io.stomprelay.relay;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.stomprelay.support.RedisClusterTestServer;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The whole two-node suite of {@link TwoNodeRelayIT}, on a real Redis Cluster (three masters, three
 * replicas) through {@code spring.data.redis.cluster.nodes}, and what is particular to a cluster:
 * channels spread over every master with sharded pub/sub, and no classic {@code PUBLISH} at all.
 */
class TwoNodeRelayOnRedisClusterIT extends TwoNodeRelayIT {

	@BeforeAll
	static void startCluster() {
		use(RelayCluster.startOnRedisCluster("node", OnlyMeTestController.class));
	}

	@Test
	void channelsAreShardChannelsSpreadOverEveryMasterAndNoClassicPublishIsSent() {
		RedisClusterTestServer redis = cluster.redisCluster();
		RelayChannels channels = nodeA.bean(RelayChannels.class);
		List<StompTestClient> clients = new ArrayList<>();
		List<String> users = new ArrayList<>();
		for (int i = 0; i < 30; i++) {
			String user = "spread-" + i + "-" + UUID.randomUUID().toString().substring(0, 8);
			users.add(user);
			clients.add(StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid(user, "user")).subscribe("/user/queue/spread"));
		}
		try {
			SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
			users.forEach(user -> template.convertAndSendToUser(user, "/queue/spread", "to " + user));
			for (int i = 0; i < users.size(); i++) {
				StompTestClient client = clients.get(i);
				String expected = "to " + users.get(i);
				await().atMost(java.time.Duration.ofSeconds(5))
					.untilAsserted(() -> assertThat(client.bodies("/user/queue/spread")).containsExactly(expected));
			}
			for (int master : redis.masterPorts()) {
				List<String> held = redis.shardChannels(master);
				assertThat(held).as("shard channels on master %d", master)
					.anyMatch(channel -> users.stream().map(channels::userChannel).anyMatch(channel::equals));
				assertThat(redis.commandCalls(master, "publish")).as("classic PUBLISH on master %d", master).isZero();
				assertThat(redis.commandCalls(master, "subscribe")).as("classic SUBSCRIBE on master %d", master).isZero();
				assertThat(redis.commandCalls(master, "spublish")).as("SPUBLISH on master %d", master).isPositive();
			}
		}
		finally {
			clients.forEach(StompTestClient::close);
		}
	}


	@Test
	void aStoppingNodeLetsNoTopologyRefreshStartOnTheSharedEventExecutor() {
		RedisClusterClient client;
		try (RelayNode stopping = RelayNode.start("stopping",
				Map.of("spring.data.redis.cluster.nodes", cluster.redisCluster().nodes()))) {
			client = stopping.bean("relayRedisClient", RedisClusterClient.class);
			assertThat(((ClusterClientOptions) client.getOptions()).getTopologyRefreshOptions().isPeriodicRefreshEnabled())
				.isTrue();
		}
		// Lettuce reads these for every periodic run and adaptive trigger; a refresh that started
		// while the shared client resources shut down logged a stack trace (LogHygieneIT caught one)
		ClusterTopologyRefreshOptions refresh = ((ClusterClientOptions) client.getOptions()).getTopologyRefreshOptions();
		assertThat(refresh.isPeriodicRefreshEnabled()).isFalse();
		assertThat(refresh.getAdaptiveRefreshTriggers()).isEmpty();
	}

}
