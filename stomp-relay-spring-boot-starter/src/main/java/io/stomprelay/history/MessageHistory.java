package io.stomprelay.history;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import io.stomprelay.relay.RelayChannels;

import org.springframework.util.AntPathMatcher;

/**
 * Which destinations keep history ({@code stomp-relay.history.destinations}), where each one's
 * history is, and the two reads the relay makes of it: the replay for a resuming subscription and
 * the range a node missed. Both read in batches and never past what they need.
 * <p>Patterns are matched against destinations as clients subscribe to them: {@code /topic/...}
 * as is, a user destination in its {@code /user/queue/...} form (the relay carries it as
 * {@code /user/<name>/queue/...}; each user has a history of its own).
 */
public class MessageHistory {

	private static final String USER_PREFIX = "/user/";

	/** Entries per read. */
	static final int BATCH = 256;

	private final List<String> patterns;

	private final AntPathMatcher matcher = new AntPathMatcher();

	private final RelayChannels channels;

	private final HistoryStore store;

	private final int maxRecovery;

	public MessageHistory(List<String> patterns, RelayChannels channels, HistoryStore store, int maxRecovery) {
		this.patterns = List.copyOf(patterns);
		this.channels = channels;
		this.store = store;
		this.maxRecovery = maxRecovery;
	}

	/**
	 * @param destination as the relay carries it ({@code /topic/chat}, {@code /user/alice/queue/x})
	 * @return whether its messages are kept
	 */
	public boolean covers(String destination) {
		if (destination.startsWith(USER_PREFIX)) {
			int end = destination.indexOf('/', USER_PREFIX.length());
			return end > 0 && matches("/user" + destination.substring(end));
		}
		return matches(destination);
	}

	/**
	 * @param destination as a client subscribes to it ({@code /topic/chat}, {@code /user/queue/x})
	 * @return whether its messages are kept
	 */
	public boolean coversSubscription(String destination) {
		return matches(destination);
	}

	private boolean matches(String destination) {
		for (String pattern : this.patterns) {
			if (this.matcher.match(pattern, destination)) {
				return true;
			}
		}
		return false;
	}

	/**
	 * @param user the user of a user destination, {@code null} for a {@code /topic} destination
	 * @param destination as the relay carries it
	 */
	public HistoryStream streamOf(String user, String destination) {
		return new HistoryStream(this.channels.historyStreamKey(user, destination),
				this.channels.historyMetaKey(user, destination));
	}

	/**
	 * @param user the subscribing session's user, {@code null} when anonymous
	 * @param destination as the client subscribed to it
	 * @return the history a subscription resumes from, {@code null} when there is none for it (an
	 * anonymous session's user destination)
	 */
	public HistoryStream streamOfSubscription(String user, String destination) {
		if (!destination.startsWith(USER_PREFIX)) {
			return streamOf(null, destination);
		}
		if (user == null) {
			return null;
		}
		return streamOf(user, USER_PREFIX + user.replace("/", "%2F") + destination.substring(USER_PREFIX.length() - 1));
	}

	/** See {@link HistoryStore#append}. */
	public CompletableFuture<StreamPosition> append(HistoryStream stream, String channel, byte[] envelope,
			String messageId) {
		return this.store.append(stream, channel, envelope, messageId);
	}

	/**
	 * What a subscription resuming after {@code from} missed: every message of the epoch after it up
	 * to the newest at the time of the first read, or nothing at all ({@link Replay#recovered()}
	 * false) when they are not all there: no history, another epoch, a position ahead of the stream,
	 * more than {@code max-recovery} behind, or trimmed.
	 */
	public CompletableFuture<Replay> replayAfter(HistoryStream stream, StreamPosition from) {
		return this.store.read(stream, from.offset() + 1, BATCH).thenCompose(first -> {
			if (first.epoch() == null || !first.epoch().equals(from.epoch()) || from.offset() > first.last()
					|| first.last() - from.offset() > this.maxRecovery) {
				return CompletableFuture.completedFuture(Replay.NOT_RECOVERED);
			}
			return collect(stream, first, from.offset(), first.last(), new ArrayList<>())
				.thenApply(entries -> (entries.size() == first.last() - from.offset())
						? new Replay(true, first.epoch(), entries) : Replay.NOT_RECOVERED);
		});
	}

	/**
	 * The messages of {@code after}'s epoch between {@code after} and {@code before} (both
	 * excluded), as far as the stream still has them without a hole: what a node missed.
	 */
	public CompletableFuture<List<HistoryBatch.Entry>> between(HistoryStream stream, StreamPosition after,
			long before) {
		return this.store.read(stream, after.offset() + 1, BATCH).thenCompose(first -> {
			if (first.epoch() == null || !first.epoch().equals(after.epoch())) {
				return CompletableFuture.completedFuture(List.of());
			}
			return collect(stream, first, after.offset(), before - 1, new ArrayList<>());
		});
	}

	/**
	 * Adds the batch's entries that continue {@code previous} without a hole up to {@code last},
	 * reading more batches while needed.
	 */
	private CompletableFuture<List<HistoryBatch.Entry>> collect(HistoryStream stream, HistoryBatch batch,
			long previous, long last, List<HistoryBatch.Entry> into) {
		String epoch = batch.epoch();
		long expected = previous + 1;
		for (HistoryBatch.Entry entry : batch.entries()) {
			if (entry.offset() > last) {
				return CompletableFuture.completedFuture(into);
			}
			if (entry.offset() != expected) {
				return CompletableFuture.completedFuture(into);
			}
			into.add(entry);
			expected++;
		}
		if (expected > last || batch.entries().size() < BATCH) {
			return CompletableFuture.completedFuture(into);
		}
		long next = expected;
		return this.store.read(stream, next, BATCH)
			.thenCompose(more -> epoch.equals(more.epoch()) ? collect(stream, more, next - 1, last, into)
					: CompletableFuture.completedFuture(into));
	}

	/**
	 * @param recovered whether every missed message is in {@code entries}
	 * @param epoch the stream's epoch
	 * @param entries the missed messages, oldest first
	 */
	public record Replay(boolean recovered, String epoch, List<HistoryBatch.Entry> entries) {

		static final Replay NOT_RECOVERED = new Replay(false, null, List.of());

	}

}
