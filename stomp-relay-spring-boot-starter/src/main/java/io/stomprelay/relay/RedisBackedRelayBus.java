package io.stomprelay.relay;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import io.lettuce.core.RedisCommandTimeoutException;
import io.stomprelay.system.StartupCheckException;

import org.springframework.beans.factory.DisposableBean;

/**
 * A {@link RelayBus} on Redis, whichever Redis it is (standalone, Sentinel, Cluster): it restores
 * by itself, after Redis changed under it (a reconnect, a failover, a slot that moved), every
 * subscription the node needs, guards its connections with a PING watchdog, and refuses a second
 * node with the same id at start-up.
 */
public interface RedisBackedRelayBus extends RelayBus, DisposableBean {

	/**
	 * @param channels the channels local sessions need now, consulted whenever subscriptions are
	 * restored
	 */
	void setWantedChannels(Supplier<Collection<String>> channels);

	/**
	 * Subscribes to this node's own channel and fails the start when another running node is
	 * subscribed to it too: two nodes with one id would each take the other's messages for their own
	 * echo and drop them. Blocks; for start-up only.
	 * @param nodeId this node's id
	 * @param nodeChannel the channel named after it
	 * @param timeout how long to wait for Redis
	 */
	default void claimNodeId(String nodeId, String nodeChannel, Duration timeout) {
		try {
			subscribe(nodeChannel).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
			long holders = subscriberCount(nodeChannel).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
			if (holders > 1) {
				throw new StartupCheckException("another running node already uses stomp-relay.node-id=" + nodeId + ".",
						"Give every node its own stomp-relay.node-id (or leave it unset to generate one).");
			}
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			throw new IllegalStateException("interrupted while checking the node id", ex);
		}
		catch (ExecutionException | TimeoutException ex) {
			throw new StartupCheckException(
					"Redis did not answer while checking the node id (" + ex.getClass().getSimpleName() + ").",
					"Check that Redis is reachable and not overloaded.", ex);
		}
	}

	/**
	 * Runs a Lua script on the connection that publishes, behind this node's publishes handed in
	 * before it, so what the script publishes keeps its place among this node's other publishes on
	 * the same channel; on a Redis Cluster it goes to the master of its first key's slot. Never
	 * blocks. On a standalone or Sentinel Redis the script goes by its digest once the connection has
	 * sent its text; should Redis have lost it (a {@code SCRIPT FLUSH}), the call is sent again with
	 * the text ahead of every later call, so calls of one script keep their order, and a plain
	 * publish sent together with the refused call may overtake it.
	 * @param keys the keys the script touches, all in one slot
	 * @return completes with the script's reply (nested lists, byte arrays and longs)
	 */
	CompletableFuture<List<Object>> evalOnPublisher(LuaScript script, byte[][] keys, byte[]... args);

	/**
	 * @return the command a script publishes a relay message with: {@code PUBLISH}, or on a Redis
	 * Cluster {@code SPUBLISH}
	 */
	String publishCommand();

	/**
	 * @return completes with how many Redis clients (of all nodes) are subscribed to the channel
	 */
	CompletableFuture<Long> subscriberCount(String channel);

	/**
	 * Starts the PING watchdog of the bus's connections.
	 * @param interval between PINGs; a connection that answered none of three in a row is reconnected
	 */
	void startPings(Duration interval);

	/**
	 * Lettuce fails a command with {@link RedisCommandTimeoutException} after
	 * {@code stomp-relay.redis.command-timeout}; one already written to Redis may still have been
	 * delivered.
	 */
	@Override
	default boolean isTimeout(Throwable publishFailure) {
		Throwable cause = (publishFailure instanceof CompletionException && publishFailure.getCause() != null)
				? publishFailure.getCause() : publishFailure;
		return cause instanceof RedisCommandTimeoutException;
	}

	@Override
	void destroy();

}
