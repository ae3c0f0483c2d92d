package io.stomprelay.relay;

import java.util.concurrent.CompletableFuture;

import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A shard subscriber that is still being connected counts as open, so a node's first SUBSCRIBE to
 * a shard waits for its {@code SSUBSCRIBE} instead of going ahead as if Redis were away (seen in the
 * cluster soak: a resuming subscription's replay read ran before the fresh node heard the channel,
 * and the message published in between was missed without a gap signal). A shard whose connection
 * failed is not open, and asking does not throw (it used to: {@code getNow} on a failed future).
 */
class ClusterShardTest {

	@Test
	void aShardBeingConnectedIsOpenAndAFailedOneIsNot() {
		CompletableFuture<StatefulRedisPubSubConnection<byte[], byte[]>> connecting = new CompletableFuture<>();
		RedisClusterRelayBus.Shard shard = new RedisClusterRelayBus.Shard(connecting);
		assertThat(shard.isOpen()).isTrue();
		assertThat(shard.isClosedForGood()).isFalse();

		connecting.completeExceptionally(new IllegalStateException("refused"));
		assertThat(shard.isOpen()).isFalse();
		assertThat(shard.isClosedForGood()).isTrue();
	}

}
