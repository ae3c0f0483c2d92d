package io.stomprelay.relay;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;

/**
 * The publishing half of loss accounting: numbers this node's messages on each channel, so a node
 * that should have received them can tell which it missed ({@link ReceiveGaps}).
 * <p>Redis pub/sub delivers a message only to the nodes subscribed at that instant. After a Redis
 * outage every node reconnects and subscribes again, each at its own moment: a message one node
 * publishes successfully before another has re-subscribed is lost to that other node, and no
 * publisher error says so. The sequence makes that loss visible where it happens. Publishes this
 * node knows failed are counted here (as {@code redis-unavailable} or {@code redis-timeout}) and
 * carried in the next stamp as {@code failedBefore}, so the receiver does not count them twice.
 * <p>Each channel's stamp and its publish happen under that channel's lock, so sequence order is
 * the order in which the publishes reach Redis. A channel's counter ("stream") is forgotten after
 * {@code idle} without publishes and starts again as a new stream, so the memory held follows the
 * channels published to recently, not every channel ever used.
 */
public class PublishSequences {

	private final ConcurrentHashMap<String, Stream> streams = new ConcurrentHashMap<>();

	private final long idleNanos;

	/**
	 * @param idle how long a channel's stream is kept without publishes
	 */
	public PublishSequences(Duration idle) {
		this.idleNanos = idle.toNanos();
	}

	/**
	 * Stamps an encoded envelope with the channel's next sequence and publishes it.
	 * @param channel the relay channel
	 * @param envelope bytes from {@link EnvelopeCodec#encode}, stamped in place
	 * @param publisher the actual publish; called under the channel's lock, so it must not block
	 * @return the publish's outcome
	 */
	public CompletableFuture<Long> publish(String channel, byte[] envelope,
			Function<byte[], CompletableFuture<Long>> publisher) {
		for (;;) {
			Stream stream = this.streams.computeIfAbsent(channel,
					c -> new Stream(ThreadLocalRandom.current().nextInt()));
			synchronized (stream) {
				if (stream.retired) {
					continue;
				}
				stream.lastUsed = System.nanoTime();
				EnvelopeCodec.stamp(envelope, new SequenceStamp(stream.id, ++stream.sequence, stream.failed));
				CompletableFuture<Long> published = publisher.apply(envelope);
				published.whenComplete((receivers, failure) -> {
					if (failure != null) {
						stream.failed();
					}
				});
				return published;
			}
		}
	}

	/** Forgets the streams of channels not published to for {@code idle}. */
	public void retireIdle() {
		long now = System.nanoTime();
		this.streams.forEach((channel, stream) -> {
			synchronized (stream) {
				if (now - stream.lastUsed > this.idleNanos) {
					stream.retired = true;
					this.streams.remove(channel, stream);
				}
			}
		});
	}

	/** @return channels with a live stream */
	public int size() {
		return this.streams.size();
	}

	private static final class Stream {

		final int id;

		long sequence;

		long failed;

		long lastUsed;

		boolean retired;

		Stream(int id) {
			this.id = id;
		}

		synchronized void failed() {
			this.failed++;
		}

	}

}
