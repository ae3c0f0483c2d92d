package io.stomprelay.relay;

import java.util.List;

import io.lettuce.core.RedisURI;
import io.stomprelay.system.StartupCheckException;
import org.junit.jupiter.api.Test;

import org.springframework.boot.data.redis.autoconfigure.DataRedisConnectionDetails;
import org.springframework.boot.data.redis.autoconfigure.DataRedisProperties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

/**
 * The relay's own Redis connection follows Boot's settings, TLS, Sentinel and Cluster included.
 */
class RelayRedisUriTest {

	private static final DataRedisConnectionDetails DETAILS = new DataRedisConnectionDetails() {
		@Override
		public String getPassword() {
			return "pw";
		}

		@Override
		public Standalone getStandalone() {
			return Standalone.of("redis.example.com", 6380, 2);
		}
	};

	@Test
	void aRedissUrlMakesTheRelayUseTls() {
		DataRedisProperties properties = new DataRedisProperties();
		properties.setUrl("rediss://:pw@redis.example.com:6380/2");

		RedisURI uri = RelayConfiguration.RedisRelay.redisUri(DETAILS, properties);

		assertThat(uri.isSsl()).isTrue();
		assertThat(uri.getHost()).isEqualTo("redis.example.com");
		assertThat(uri.getPort()).isEqualTo(6380);
		assertThat(uri.getDatabase()).isEqualTo(2);
		assertThat(uri.getPassword()).containsExactly('p', 'w');
	}

	@Test
	void aPlainUrlDoesNot() {
		DataRedisProperties properties = new DataRedisProperties();
		properties.setUrl("redis://redis.example.com:6380");

		assertThat(RelayConfiguration.RedisRelay.redisUri(DETAILS, properties).isSsl()).isFalse();
	}

	@Test
	void sentinelsGiveAUriThatAsksThemForTheMaster() {
		DataRedisConnectionDetails sentinels = new DataRedisConnectionDetails() {
			@Override
			public String getPassword() {
				return "pw";
			}

			@Override
			public Sentinel getSentinel() {
				return new Sentinel() {
					@Override
					public int getDatabase() {
						return 1;
					}

					@Override
					public String getMaster() {
						return "relaymaster";
					}

					@Override
					public List<Node> getNodes() {
						return List.of(new Node("s1.example.com", 26379), new Node("s2.example.com", 26380));
					}

					@Override
					public String getUsername() {
						return null;
					}

					@Override
					public String getPassword() {
						return "sentinel-pw";
					}
				};
			}
		};

		RedisURI uri = RelayConfiguration.RedisRelay.redisUri(sentinels, new DataRedisProperties());

		assertThat(uri.getSentinelMasterId()).isEqualTo("relaymaster");
		assertThat(uri.getSentinels()).extracting(RedisURI::getHost, RedisURI::getPort)
			.containsExactly(tuple("s1.example.com", 26379), tuple("s2.example.com", 26380));
		assertThat(uri.getSentinels()).allSatisfy(sentinel -> assertThat(sentinel.getPassword()).containsExactly(
				"sentinel-pw".toCharArray()));
		assertThat(uri.getPassword()).containsExactly('p', 'w');
		assertThat(uri.getDatabase()).isEqualTo(1);
	}

	@Test
	void clusterNodesAreTheSeedsWithTheSameCredentials() {
		DataRedisConnectionDetails cluster = new DataRedisConnectionDetails() {
			@Override
			public String getPassword() {
				return "pw";
			}

			@Override
			public Cluster getCluster() {
				return () -> List.of(new Node("c1.example.com", 7000), new Node("c2.example.com", 7001));
			}
		};

		List<RedisURI> seeds = RelayConfiguration.RedisRelay.clusterUris(cluster, new DataRedisProperties());

		assertThat(seeds).extracting(RedisURI::getHost, RedisURI::getPort)
			.containsExactly(tuple("c1.example.com", 7000), tuple("c2.example.com", 7001));
		assertThat(seeds).allSatisfy(seed -> assertThat(seed.getPassword()).containsExactly('p', 'w'));
	}

	@Test
	void aStaticMasterReplicaListIsRefusedWithAClearMessage() {
		DataRedisConnectionDetails masterReplica = new DataRedisConnectionDetails() {
			@Override
			public MasterReplica getMasterReplica() {
				return () -> List.of(new Node("m.example.com", 6379));
			}
		};

		assertThatThrownBy(() -> RelayConfiguration.RedisRelay.redisUri(masterReplica, new DataRedisProperties()))
			.isInstanceOf(StartupCheckException.class)
			.hasMessageContaining("static master/replica");
	}

}
