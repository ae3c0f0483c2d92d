package io.stomprelay.support;

import java.time.Duration;
import java.time.Instant;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Redis Cluster and Sentinel fixtures themselves: they form, fail over when a master is killed,
 * and take the killed server back.
 */
class RedisFixturesIT {

	@Test
	void clusterPromotesTheReplicaOfAKilledMasterAndTakesTheKilledNodeBackAsReplica() {
		try (RedisClusterTestServer cluster = RedisClusterTestServer.start()) {
			assertThat(cluster.masterPorts()).hasSize(3);
			int killed = cluster.killMasterOf("some-channel");
			Instant start = Instant.now();
			int promoted = cluster.awaitPromotion(killed, "some-channel", Duration.ofSeconds(20));
			System.out.println("cluster promotion took " + Duration.between(start, Instant.now()).toMillis() + " ms");
			assertThat(promoted).isNotEqualTo(killed);
			cluster.restart(killed);
			org.awaitility.Awaitility.await().atMost(Duration.ofSeconds(20)).until(cluster::isHealthy);
			assertThat(cluster.masterPorts()).hasSize(3).doesNotContain(killed);
		}
	}

	@Test
	void sentinelsPromoteTheReplicaOfAKilledMaster() {
		try (RedisSentinelTestServer sentinel = RedisSentinelTestServer.start()) {
			int killed = sentinel.killMaster();
			Instant start = Instant.now();
			int promoted = sentinel.awaitFailover(killed, Duration.ofSeconds(30));
			System.out.println("sentinel failover took " + Duration.between(start, Instant.now()).toMillis() + " ms");
			assertThat(promoted).isNotEqualTo(killed);
		}
	}

}
