package io.stomprelay.relay;

import java.util.concurrent.CompletableFuture;

/**
 * The pub/sub transport between nodes. Implementations never block the caller: every operation
 * returns at once and completes (or fails) later.
 */
public interface RelayBus {

	/**
	 * Publishes to a channel.
	 * @return completes with the number of nodes that received it, or fails when it could not be
	 * published (the caller counts it as dropped)
	 */
	CompletableFuture<Long> publish(String channel, byte[] message);

	/**
	 * Whether a {@link #publish} failed only because the transport did not confirm it in time: the
	 * message may or may not have reached the other nodes (counted apart from a publish that could
	 * not be made at all).
	 * @param publishFailure what a {@link #publish} future failed with
	 */
	default boolean isTimeout(Throwable publishFailure) {
		return false;
	}

	/**
	 * Starts receiving a channel. Subscriptions are restored after a reconnect.
	 * @return completes once the transport confirmed the subscription
	 */
	CompletableFuture<Void> subscribe(String channel);

	/** Stops receiving a channel. */
	void unsubscribe(String channel);

	/** @return whether the transport is connected right now */
	boolean isConnected();

	/**
	 * Receives what arrives on subscribed channels. Called on the transport's I/O thread: it must
	 * hand work off and return quickly.
	 */
	@FunctionalInterface
	interface Listener {

		void onMessage(String channel, byte[] message);

	}

}
