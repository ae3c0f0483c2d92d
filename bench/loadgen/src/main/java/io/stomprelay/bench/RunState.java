package io.stomprelay.bench;

import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Queue;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;

/**
 * Everything measured during one publisher run. Per-session arrays are written only by the
 * session's event-loop thread; the main thread reads them after a barrier on every loop.
 */
final class RunState {

	/** Latencies in microseconds, up to one minute, 3 significant digits. */
	static final long MAX_LATENCY_MICROS = 60_000_000L;

	final long runId;
	final long[] lastSeq;
	final long[] received;
	final long[] duplicates;
	final long[] outOfOrder;
	final BitSet[] seen;
	final LongAdder total = new LongAdder();
	final LongAdder stale = new LongAdder();
	final long startNanos = System.nanoTime();
	volatile long firstRecvNanos;
	volatile long lastRecvNanos;
	/** Per thread, the latencies by the node of the receiving session; merged after a barrier. */
	private final Queue<Map<Integer, Histogram>> histograms = new ConcurrentLinkedQueue<>();
	private final ThreadLocal<Map<Integer, Histogram>> byNode = ThreadLocal.withInitial(() -> {
		Map<Integer, Histogram> h = new HashMap<>();
		this.histograms.add(h);
		return h;
	});

	/**
	 * Storm: a session is complete once it has every seq below this (0 = not tracked), and
	 * {@link #completeNanos} holds System.nanoTime() of that moment.
	 */
	volatile int completeBelow;
	final int[] belowCount;
	final long[] completeNanos;
	final LongAdder completed = new LongAdder();

	RunState(long runId, int sessions) {
		this.belowCount = new int[sessions];
		this.completeNanos = new long[sessions];
		this.runId = runId;
		this.lastSeq = new long[sessions];
		java.util.Arrays.fill(this.lastSeq, -1);
		this.received = new long[sessions];
		this.duplicates = new long[sessions];
		this.outOfOrder = new long[sessions];
		this.seen = new BitSet[sessions];
		for (int i = 0; i < sessions; i++) {
			this.seen[i] = new BitSet();
		}
	}

	/** Called on the session's event loop for every delivery; {@code node} is the session's node. */
	void onDelivery(int session, int node, long run, long seq, long sentMicros, long recvMicros) {
		if (run != this.runId || seq < 0 || seq > Integer.MAX_VALUE) {
			this.stale.increment();
			return;
		}
		BitSet bits = this.seen[session];
		if (bits.get((int) seq)) {
			this.duplicates[session]++;
			return;
		}
		bits.set((int) seq);
		if (seq < this.lastSeq[session]) {
			this.outOfOrder[session]++;
		}
		else {
			this.lastSeq[session] = seq;
		}
		this.received[session]++;
		if (seq < this.completeBelow && ++this.belowCount[session] == this.completeBelow) {
			this.completeNanos[session] = System.nanoTime();
			this.completed.increment();
		}
		long latency = Math.max(0, Math.min(MAX_LATENCY_MICROS, recvMicros - sentMicros));
		this.byNode.get().computeIfAbsent(node, n -> new Histogram(MAX_LATENCY_MICROS, 3)).recordValue(latency);
		long now = System.nanoTime();
		if (this.firstRecvNanos == 0) {
			this.firstRecvNanos = now;
		}
		this.lastRecvNanos = now;
		this.total.increment();
	}

	/** The per-thread histograms of each node's sessions merged, by node index. */
	SortedMap<Integer, Histogram> mergedByNode() {
		SortedMap<Integer, Histogram> merged = new TreeMap<>();
		this.histograms.forEach(perThread -> perThread.forEach((node, h) -> merged
			.computeIfAbsent(node, n -> new Histogram(MAX_LATENCY_MICROS, 3))
			.add(h)));
		return merged;
	}

	/** All per-thread histograms merged. */
	Histogram merged() {
		Histogram all = new Histogram(MAX_LATENCY_MICROS, 3);
		this.histograms.forEach(perThread -> perThread.values().forEach(all::add));
		return all;
	}

}
