package io.stomprelay.relay;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The receiving half of loss accounting ({@link PublishSequences}): for every channel this node
 * holds, the last sequence seen from each origin. A jump means messages the origin published while
 * this node was not subscribed (typically between Redis coming back and this node's re-subscribe);
 * they are returned so the caller counts them as dropped ({@code missed}). Publishes the origin
 * knew had failed are left out: the origin counted those itself.
 * <p>Tracking starts when the node acquires the channel and ends when it releases it, so a node
 * that was not interested never counts what it was not meant to receive. What cannot be seen: a
 * gap is found with the next message from the same origin on that channel, so messages missed at
 * the very end of a burst stay uncounted until that origin sends on the channel again; and the
 * first run of an origin this node has not heard from since acquiring the channel gives no baseline.
 * <p>{@link #observe} runs on the Redis I/O thread: one map lookup and a few comparisons.
 */
public class ReceiveGaps implements ChannelTracker {

	/**
	 * What {@link #observe} returns for a message whose sequence is not newer than the last one seen
	 * from its origin on that channel: a message this node already had. Lettuce re-sends a command
	 * that was written but not answered when its connection dropped (so a publish can reach Redis
	 * twice), and while a Redis Cluster channel moves to another shard the same message can arrive
	 * through the old and the new subscription. Such a message is not delivered again.
	 */
	public static final long REPEAT = -1;

	private final ConcurrentHashMap<String, Map<String, SequenceStamp>> channels = new ConcurrentHashMap<>();

	/** Starts tracking a channel the node just acquired. */
	@Override
	public void open(String channel) {
		this.channels.putIfAbsent(channel, new HashMap<>());
	}

	/** Stops tracking a channel the node released. */
	@Override
	public void close(String channel) {
		this.channels.remove(channel);
	}

	/**
	 * @param channel where the message arrived
	 * @param origin the node that published it
	 * @param stamp its sequence stamp
	 * @return how many messages of that origin on that channel were missed just before this one, or
	 * {@link #REPEAT} when this one (or a later one) was seen already
	 */
	public long observe(String channel, String origin, SequenceStamp stamp) {
		Map<String, SequenceStamp> origins = this.channels.get(channel);
		if (origins == null) {
			return 0;
		}
		synchronized (origins) {
			SequenceStamp last = origins.get(origin);
			if (last != null && last.stream() == stamp.stream() && stamp.sequence() <= last.sequence()) {
				return REPEAT;
			}
			origins.put(origin, stamp);
			if (last == null) {
				return 0;
			}
			long missed = (last.stream() != stamp.stream()) ? stamp.sequence() - 1 - stamp.failedBefore()
					: (stamp.sequence() - last.sequence() - 1) - (stamp.failedBefore() - last.failedBefore());
			return Math.max(0, missed);
		}
	}

	/** @return channels being tracked */
	public int size() {
		return this.channels.size();
	}

}
