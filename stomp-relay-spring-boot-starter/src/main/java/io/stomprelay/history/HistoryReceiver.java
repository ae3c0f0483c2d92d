package io.stomprelay.history;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;

import io.stomprelay.relay.ChannelTracker;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.EnvelopeCodec;
import io.stomprelay.relay.EnvelopeFormatException;
import io.stomprelay.relay.RelayEnvelope;
import io.stomprelay.relay.RelayMetrics;

/**
 * Repairs, on the receiving node, what it missed of a destination with history, so that a connected
 * client sees no hole. For every history stream arriving on a channel this node holds, it keeps the
 * last position it handed on. The next message must be the next offset of the same epoch (or
 * offset 1 of a new one). A message already handed on (same epoch, not newer) is a duplicate and
 * dropped. A jump means messages this node missed (it re-subscribed after a Redis outage, Redis
 * restarted and started a new epoch): the node reads them from the stream and hands them on, in
 * order, before the newer message; messages of that stream arriving meanwhile wait behind them.
 * What the stream no longer has is counted as dropped ({@code missed}) and the next message handed
 * on carries how many were lost before it ({@code stream-gap}). A read that fails (the node's
 * command connection is still reconnecting after an outage while its subscriber is already back) is
 * tried again, after 50 ms and then twice as long each time (at most a second), for up to
 * {@code readRetryFor}; the stream's newer messages wait meanwhile. Only then is what could not be
 * read counted as lost.
 * <p>{@link #receive} runs on the Redis I/O thread and never blocks: the read is asynchronous and
 * its answer is handed to the {@link Sink} from Lettuce's thread, under the stream's lock, so
 * everything reaches the sink in offset order. Tracking of a channel begins when the node acquires
 * it and ends when it releases it; the first message of a stream after that sets the baseline,
 * unless the stream began after the node acquired the channel (its epoch is Redis's clock at its
 * first message): then the node should have seen it from offset 1, and a later first offset means
 * it missed the start (e.g. the stream was created on a new master after a failover before the node
 * listened there), which it repairs like any jump.
 */
public class HistoryReceiver implements ChannelTracker {

	private final MessageHistory history;

	private final EnvelopeCodec codec;

	private final RelayMetrics metrics;

	private final HistoryMetrics historyMetrics;

	/**
	 * How far this node's clock may be behind Redis's: a stream whose epoch is less than this after
	 * the channel was acquired is taken as older than the channel (its first message sets the
	 * baseline), never the other way round.
	 */
	static final long CLOCK_SKEW_MICROS = 5_000_000;

	/** The wait before a failed read is tried again the first time; it doubles, up to a second. */
	private static final Duration FIRST_RETRY = Duration.ofMillis(50);

	private static final Duration LONGEST_RETRY = Duration.ofSeconds(1);

	private final ConcurrentHashMap<String, Tracked> channels = new ConcurrentHashMap<>();

	private final Clock clock;

	private final Duration readRetryFor;

	private final Later later;

	/**
	 * @param clock when channels are acquired, compared with streams' epochs (Redis's clock)
	 * @param readRetryFor how long, in waits between tries, a failed read is tried again before what
	 * it was to fill is counted as lost
	 * @param later runs the next try after its wait
	 */
	public HistoryReceiver(MessageHistory history, EnvelopeCodec codec, RelayMetrics metrics,
			HistoryMetrics historyMetrics, Clock clock, Duration readRetryFor, Later later) {
		this.readRetryFor = readRetryFor;
		this.later = later;
		this.history = history;
		this.codec = codec;
		this.metrics = metrics;
		this.historyMetrics = historyMetrics;
		this.clock = clock;
	}

	@Override
	public void open(String channel) {
		this.channels.putIfAbsent(channel, new Tracked(ChronoUnit.MICROS.between(Instant.EPOCH, this.clock.instant())));
	}

	@Override
	public void close(String channel) {
		this.channels.remove(channel);
	}

	/**
	 * Hands on a positioned message, after whatever this node missed before it.
	 * @param channel where it arrived
	 */
	public void receive(String channel, StreamPosition position, RelayEnvelope envelope, Sink sink) {
		Positioned message = new Positioned(position, envelope, 0);
		Tracked tracked = this.channels.get(channel);
		if (tracked == null) {
			sink.deliver(channel, List.of(message));
			return;
		}
		String user = envelope.kind().perUser() ? envelope.user() : null;
		HistoryStream stream = this.history.streamOf(user, envelope.destination());
		Cursor cursor = tracked.streams.computeIfAbsent(stream.key(), key -> new Cursor(stream, tracked.openedAtMicros));
		synchronized (cursor) {
			if (cursor.waiting != null) {
				cursor.waiting.add(message);
			}
			else {
				advance(channel, cursor, message, sink);
			}
		}
	}

	/** Called under the cursor's lock, when no repair is under way. */
	private void advance(String channel, Cursor cursor, Positioned message, Sink sink) {
		StreamPosition last = cursor.last;
		StreamPosition position = message.position();
		StreamPosition after;
		if (last == null) {
			after = (position.offset() > 1 && beganAfter(position, cursor.channelOpenedAtMicros))
					? new StreamPosition(position.epoch(), 0) : null;
		}
		else if (last.sameEpoch(position)) {
			if (position.offset() <= last.offset()) {
				this.metrics.duplicate();
				return;
			}
			after = (position.offset() == last.offset() + 1) ? null : last;
		}
		else {
			after = (position.offset() == 1) ? null : new StreamPosition(position.epoch(), 0);
		}
		if (after == null) {
			cursor.last = position;
			sink.deliver(channel, List.of(message));
			return;
		}
		cursor.waiting = new ArrayList<>(List.of(message));
		read(channel, cursor, after, position.offset(), sink, FIRST_RETRY, this.readRetryFor);
	}

	/** Reads what is missing; a failed read is tried again while {@code left} allows the wait. */
	private void read(String channel, Cursor cursor, StreamPosition after, long before, Sink sink, Duration wait,
			Duration left) {
		this.history.between(cursor.stream, after, before).whenComplete((entries, failure) -> {
			if (failure != null && wait.compareTo(left) <= 0) {
				Duration doubled = wait.multipliedBy(2);
				Duration nextWait = (doubled.compareTo(LONGEST_RETRY) < 0) ? doubled : LONGEST_RETRY;
				try {
					this.later.run(wait, () -> read(channel, cursor, after, before, sink, nextWait, left.minus(wait)));
					return;
				}
				catch (RejectedExecutionException ex) {
					// the node is stopping: what waits is delivered now and the gap counted, as after the last try
				}
			}
			repaired(channel, cursor, after, (failure != null) ? List.of() : entries, sink);
		});
	}

	private void repaired(String channel, Cursor cursor, StreamPosition after, List<HistoryBatch.Entry> entries,
			Sink sink) {
		synchronized (cursor) {
			List<Positioned> waiting = cursor.waiting;
			cursor.waiting = null;
			Positioned next = waiting.get(0);
			String epoch = next.position().epoch();
			List<Positioned> repaired = new ArrayList<>(entries.size() + 1);
			long expected = after.offset() + 1;
			for (HistoryBatch.Entry entry : entries) {
				try {
					repaired.add(new Positioned(new StreamPosition(epoch, entry.offset()), this.codec.decode(entry.envelope()), 0));
					expected = entry.offset() + 1;
				}
				catch (EnvelopeFormatException ex) {
					this.metrics.dropped(DropReason.BAD_ENVELOPE, ex.getMessage());
					break;
				}
			}
			long lost = next.position().offset() - expected;
			this.historyMetrics.repaired(repaired.size());
			if (lost > 0) {
				this.metrics.dropped(DropReason.MISSED, lost, "history gap");
				next = new Positioned(next.position(), next.envelope(), lost);
			}
			repaired.add(next);
			cursor.last = next.position();
			sink.deliver(channel, repaired);
			for (int i = 1; i < waiting.size(); i++) {
				if (cursor.waiting != null) {
					cursor.waiting.add(waiting.get(i));
				}
				else {
					advance(channel, cursor, waiting.get(i), sink);
				}
			}
		}
	}

	/**
	 * @return whether the position's epoch (Redis's clock in microseconds when the stream began)
	 * is clearly after the moment given; {@code false} when the epoch is not a time
	 */
	private static boolean beganAfter(StreamPosition position, long micros) {
		try {
			return Long.parseLong(position.epoch()) > micros + CLOCK_SKEW_MICROS;
		}
		catch (NumberFormatException ex) {
			return false;
		}
	}

	/** @return streams being followed (for tests) */
	int streams() {
		return this.channels.values().stream().mapToInt(tracked -> tracked.streams.size()).sum();
	}

	/** Runs a task after a wait: how a failed read is tried again. */
	@FunctionalInterface
	public interface Later {

		void run(Duration wait, Runnable task);

	}

	/**
	 * Where the messages go, in order: the relay's delivery lanes.
	 */
	@FunctionalInterface
	public interface Sink {

		/**
		 * @param channel the channel they arrived on (their delivery lane)
		 * @param messages consecutive messages of one stream, oldest first
		 */
		void deliver(String channel, List<Positioned> messages);

	}

	/**
	 * A message of a destination with history.
	 *
	 * @param position its place in the stream
	 * @param envelope the message
	 * @param lostBefore how many messages of the stream right before it were lost (not in the stream
	 * any more when this node noticed it missed them), 0 normally
	 */
	public record Positioned(StreamPosition position, RelayEnvelope envelope, long lostBefore) {
	}

	/** A channel this node holds: since when, and the history streams seen on it. */
	private static final class Tracked {

		final long openedAtMicros;

		final Map<String, Cursor> streams = new ConcurrentHashMap<>();

		Tracked(long openedAtMicros) {
			this.openedAtMicros = openedAtMicros;
		}

	}

	private static final class Cursor {

		final HistoryStream stream;

		/** When the node acquired the channel the stream arrives on (microseconds, this node's clock). */
		final long channelOpenedAtMicros;

		StreamPosition last;

		/** While a repair is under way: the messages that arrived since, oldest first. */
		List<Positioned> waiting;

		Cursor(HistoryStream stream, long channelOpenedAtMicros) {
			this.stream = stream;
			this.channelOpenedAtMicros = channelOpenedAtMicros;
		}

	}

}
