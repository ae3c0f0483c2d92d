package io.stomprelay.history;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.EnvelopeCodec;
import io.stomprelay.relay.MessageKind;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.relay.RelayEnvelope;
import io.stomprelay.relay.RelayMetrics;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import org.springframework.core.task.TaskRejectedException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The receiving node's side of history: duplicates dropped, holes filled from the stream before
 * newer messages, what cannot be filled counted and signalled.
 */
class HistoryReceiverTest {

	private static final String CHANNEL = "stomp-relay:destination:{/topic/t}";

	private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

	private final RelayMetrics metrics = new RelayMetrics(this.registry, "node-test");

	private final EnvelopeCodec codec = new EnvelopeCodec(1 << 20);

	private final List<CompletableFuture<List<HistoryBatch.Entry>>> reads = new ArrayList<>();

	private final List<long[]> readRanges = new ArrayList<>();

	private final MessageHistory history = new MessageHistory(List.of("/topic/**"), new RelayChannels("stomp-relay"), null,
			1000) {
		@Override
		public CompletableFuture<List<HistoryBatch.Entry>> between(HistoryStream stream, StreamPosition after,
				long before) {
			CompletableFuture<List<HistoryBatch.Entry>> read = new CompletableFuture<>();
			HistoryReceiverTest.this.reads.add(read);
			HistoryReceiverTest.this.readRanges.add(new long[] { after.offset(), before });
			return read;
		}
	};

	/** The node's clock: the channel is acquired at this instant. */
	private static final Instant NOW = Instant.parse("2026-12-04T06:00:00Z");

	/** Retries the receiver asked for, with their waits, run only when a test says so. */
	private final List<Runnable> retries = new ArrayList<>();

	private final List<Duration> retryWaits = new ArrayList<>();

	private final HistoryReceiver receiver = receiver(Duration.ofSeconds(1));

	private final List<String> delivered = new ArrayList<>();

	@BeforeEach
	void open() {
		this.receiver.open(CHANNEL);
	}

	@Test
	void deliversInOrderAndDropsWhatItAlreadyDelivered() {
		receive("e1", 1);
		receive("e1", 2);
		receive("e1", 2);
		receive("e1", 1);
		receive("e1", 3);
		assertThat(this.delivered).containsExactly("e1-1", "e1-2", "e1-3");
		assertThat(this.registry.get("stomp.relay.duplicates").counter().count()).isEqualTo(2);
		assertThat(this.reads).isEmpty();
	}

	@Test
	void fillsAHoleFromTheStreamBeforeNewerMessages() {
		receive("e1", 1);
		receive("e1", 4);
		receive("e1", 5);
		assertThat(this.delivered).containsExactly("e1-1");
		assertThat(this.readRanges).containsExactly(new long[] { 1, 4 });
		this.reads.get(0).complete(List.of(entry(2), entry(3)));
		assertThat(this.delivered).containsExactly("e1-1", "e1-2", "e1-3", "e1-4", "e1-5");
		assertThat(this.metrics.droppedCount(DropReason.MISSED)).isZero();
		assertThat(this.registry.get("stomp.relay.history.repaired").counter().count()).isEqualTo(2);
	}

	@Test
	void aNewEpochStartingPastOneIsFilledFromItsFirstOffset() {
		receive("e1", 7);
		receive("e2", 3);
		assertThat(this.readRanges).containsExactly(new long[] { 0, 3 });
		this.reads.get(0).complete(List.of(entry(1), entry(2)));
		assertThat(this.delivered).containsExactly("e1-7", "e2-1", "e2-2", "e2-3");
	}

	@Test
	void whatTheStreamNoLongerHasIsCountedAndSignalled() {
		receive("e1", 1);
		receive("e1", 5);
		receive("e1", 9);
		this.reads.get(0).complete(List.of());
		// the second hole is found when the waiting message is handed on; its reads all fail
		assertThat(this.reads).hasSize(2);
		failEveryTry();
		assertThat(this.delivered).containsExactly("e1-1", "e1-5 (lost 3)", "e1-9 (lost 3)");
		assertThat(this.metrics.droppedCount(DropReason.MISSED)).isEqualTo(6);
		// tried again after 50, 100, 200 and 400 ms: 750 ms of the second allowed, the next wait would pass it
		assertThat(this.retryWaits).containsExactly(Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(200),
				Duration.ofMillis(400));
	}

	@Test
	void aReadThatFailsIsTriedAgainWhileNewerMessagesWait() {
		// the subscriber is back after an outage, the command connection not yet: the first reads fail
		receive("e1", 7);
		receive("e2", 13);
		receive("e2", 14);
		assertThat(this.readRanges).containsExactly(new long[] { 0, 13 });
		this.reads.get(0).completeExceptionally(new IllegalStateException("not connected"));
		this.retries.remove(0).run();
		this.reads.get(1).completeExceptionally(new IllegalStateException("not connected"));
		this.retries.remove(0).run();
		assertThat(this.delivered).containsExactly("e1-7");
		List<HistoryBatch.Entry> missed = new ArrayList<>();
		for (long offset = 1; offset <= 12; offset++) {
			missed.add(entry(offset));
		}
		this.reads.get(2).complete(missed);

		assertThat(this.delivered).containsExactly("e1-7", "e2-1", "e2-2", "e2-3", "e2-4", "e2-5", "e2-6", "e2-7", "e2-8",
				"e2-9", "e2-10", "e2-11", "e2-12", "e2-13", "e2-14");
		assertThat(this.readRanges).allSatisfy(range -> assertThat(range).containsExactly(0, 13));
		assertThat(this.retryWaits).containsExactly(Duration.ofMillis(50), Duration.ofMillis(100));
		assertThat(this.metrics.droppedCount(DropReason.MISSED)).isZero();
	}

	@Test
	void theWaitBetweenTriesDoublesUpToASecond() {
		HistoryReceiver patient = receiver(Duration.ofSeconds(4));
		patient.open(CHANNEL);
		receive(patient, "e1", 1);
		receive(patient, "e1", 5);
		failEveryTry();
		// 50 + 100 + 200 + 400 + 800 + 1000 + 1000 = 3,550 ms of the 4 s; a further second would pass it
		assertThat(this.retryWaits).containsExactly(Duration.ofMillis(50), Duration.ofMillis(100), Duration.ofMillis(200),
				Duration.ofMillis(400), Duration.ofMillis(800), Duration.ofSeconds(1), Duration.ofSeconds(1));
		assertThat(this.delivered).containsExactly("e1-1", "e1-5 (lost 3)");
	}

	@Test
	void aNodeThatStopsWhileAReadFailsDeliversWhatWaitsAndCountsTheGap() {
		HistoryReceiver stopping = new HistoryReceiver(this.history, this.codec, this.metrics,
				new HistoryMetrics(this.registry), Clock.fixed(NOW, ZoneOffset.UTC), Duration.ofSeconds(1),
				(wait, task) -> {
					throw new TaskRejectedException("scheduler shut down");
				});
		stopping.open(CHANNEL);
		receive(stopping, "e1", 1);
		receive(stopping, "e1", 5);
		receive(stopping, "e1", 6);

		this.reads.get(0).completeExceptionally(new IllegalStateException("Redis away"));
		assertThat(this.delivered).containsExactly("e1-1", "e1-5 (lost 3)", "e1-6");
		assertThat(this.metrics.droppedCount(DropReason.MISSED)).isEqualTo(3);
	}

	/** Fails the latest read and every try of it the receiver asks for, until it stops asking. */
	private void failEveryTry() {
		this.reads.get(this.reads.size() - 1).completeExceptionally(new IllegalStateException("Redis away"));
		while (!this.retries.isEmpty()) {
			this.retries.remove(0).run();
			this.reads.get(this.reads.size() - 1).completeExceptionally(new IllegalStateException("Redis away"));
		}
	}

	@Test
	void aStreamThatBeganAfterTheChannelWasAcquiredIsFilledFromItsFirstOffset() {
		// created on a new master after a failover, before this node listened there
		String epoch = micros(NOW.plusSeconds(30));
		receive(epoch, 3);
		assertThat(this.readRanges).containsExactly(new long[] { 0, 3 });
		this.reads.get(0).complete(List.of(entry(1), entry(2)));
		assertThat(this.delivered).containsExactly(epoch + "-1", epoch + "-2", epoch + "-3");
	}

	@Test
	void aStreamOlderThanTheChannelStartsWhereTheNodeJoinsIt() {
		receive(micros(NOW.minusSeconds(60)), 40);
		assertThat(this.reads).isEmpty();
		assertThat(this.delivered).hasSize(1);
	}

	@Test
	void aStreamBegunWithinTheAllowedClockSkewCountsAsOlder() {
		receive(micros(NOW.plusSeconds(2)), 7);
		assertThat(this.reads).isEmpty();
		assertThat(this.delivered).hasSize(1);
	}

	private static String micros(Instant at) {
		return Long.toString(ChronoUnit.MICROS.between(Instant.EPOCH, at));
	}

	/** A receiver on the node's fixed clock whose retries wait in {@link #retries}. */
	private HistoryReceiver receiver(Duration readRetryFor) {
		return new HistoryReceiver(this.history, this.codec, this.metrics, new HistoryMetrics(this.registry),
				Clock.fixed(NOW, ZoneOffset.UTC), readRetryFor, (wait, task) -> {
					this.retryWaits.add(wait);
					this.retries.add(task);
				});
	}

	private void receive(String epoch, long offset) {
		receive(this.receiver, epoch, offset);
	}

	private void receive(HistoryReceiver receiver, String epoch, long offset) {
		receiver.receive(CHANNEL, new StreamPosition(epoch, offset), envelope(), (channel, messages) -> messages
			.forEach(m -> this.delivered.add(m.position().epoch() + "-" + m.position().offset()
					+ ((m.lostBefore() > 0) ? " (lost " + m.lostBefore() + ")" : ""))));
	}

	private HistoryBatch.Entry entry(long offset) {
		return new HistoryBatch.Entry(offset, this.codec.encode(envelope()));
	}

	private static RelayEnvelope envelope() {
		return new RelayEnvelope("node-x", "id", MessageKind.ALL, null, "/topic/t", 0L, null, Map.of(), new byte[] { 1 });
	}

}
