package io.stomprelay.relay;

import io.lettuce.core.RedisURI;
import org.junit.jupiter.api.Test;

import org.springframework.boot.data.redis.autoconfigure.DataRedisConnectionDetails;
import org.springframework.boot.data.redis.autoconfigure.DataRedisProperties;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The relay's own Redis connection follows Boot's settings, TLS included.
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

}
