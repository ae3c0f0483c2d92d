package io.stomprelay.relay;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Reference-counts this node's interest in each relay channel: the first local need subscribes the
 * node to the channel, the last release unsubscribes it. A node with no local interest in a user
 * or destination receives none of its traffic. Count changes and the Redis commands they cause are
 * issued under one lock, so subscribe and unsubscribe of a channel can never cross.
 */
public class ChannelInterest {

	private final RelayBus bus;

	private final List<ChannelTracker> trackers;

	private final Map<String, Interest> interests = new HashMap<>();

	public ChannelInterest(RelayBus bus) {
		this(bus, List.of(new ReceiveGaps()));
	}

	/**
	 * @param trackers follow the channels this node holds, for loss accounting
	 */
	public ChannelInterest(RelayBus bus, List<ChannelTracker> trackers) {
		this.bus = bus;
		this.trackers = List.copyOf(trackers);
	}

	/**
	 * A need for a channel whose last subscribe failed (Redis was away) asks again, so it is
	 * confirmed as soon as Redis is back rather than never.
	 * @return completes when the node is subscribed to the channel
	 */
	public synchronized CompletableFuture<Void> acquire(String channel) {
		Interest interest = this.interests.computeIfAbsent(channel, c -> new Interest());
		if (interest.count == 0) {
			this.trackers.forEach(tracker -> tracker.open(channel));
		}
		if (interest.count++ == 0 || interest.subscribed.isCompletedExceptionally()) {
			// a dependent of the transport's future, not that future itself: once complete it holds
			// only its outcome, where the transport's (a Lettuce command) would keep the command, its
			// arguments and output for as long as the channel is held, i.e. for every session's life
			interest.subscribed = this.bus.subscribe(channel).thenApply(subscribed -> null);
		}
		return interest.subscribed;
	}

	public synchronized void release(String channel) {
		Interest interest = this.interests.get(channel);
		if (interest == null) {
			return;
		}
		if (--interest.count == 0) {
			this.interests.remove(channel);
			this.trackers.forEach(tracker -> tracker.close(channel));
			this.bus.unsubscribe(channel);
		}
	}

	/** @return how many local needs hold the channel (0 when the node is not subscribed) */
	public synchronized int count(String channel) {
		Interest interest = this.interests.get(channel);
		return (interest != null) ? interest.count : 0;
	}

	/** @return every channel the node should be subscribed to now */
	public synchronized List<String> channels() {
		return List.copyOf(this.interests.keySet());
	}

	/** @return how many channels the node should be subscribed to now */
	public synchronized int size() {
		return this.interests.size();
	}

	private static final class Interest {

		int count;

		CompletableFuture<Void> subscribed;

	}

}
