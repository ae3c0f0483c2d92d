package io.stomprelay.history;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * The history's own counters: {@code stomp_relay_history_recoveries_total{result}} (resuming
 * SUBSCRIBEs, {@code recovered} or {@code not-recovered}), {@code stomp_relay_history_replayed_total}
 * (messages they replayed) and {@code stomp_relay_history_repaired_total} (messages a node read back
 * from a stream because it had missed them live). Losses are counted with the relay's drops.
 */
public class HistoryMetrics {

	private final Counter recovered;

	private final Counter notRecovered;

	private final Counter replayed;

	private final Counter repaired;

	public HistoryMetrics(MeterRegistry registry) {
		this.recovered = recoveries(registry, "recovered");
		this.notRecovered = recoveries(registry, "not-recovered");
		this.replayed = Counter.builder("stomp.relay.history.replayed")
			.description("Messages replayed to resuming subscriptions").register(registry);
		this.repaired = Counter.builder("stomp.relay.history.repaired")
			.description("Messages a node missed live and read back from the history before delivering newer ones")
			.register(registry);
	}

	private static Counter recoveries(MeterRegistry registry, String result) {
		return Counter.builder("stomp.relay.history.recoveries")
			.description("SUBSCRIBE frames with resume-from, by outcome").tag("result", result).register(registry);
	}

	void recovery(boolean recovered, int replayed) {
		(recovered ? this.recovered : this.notRecovered).increment();
		this.replayed.increment(replayed);
	}

	void repaired(int count) {
		if (count > 0) {
			this.repaired.increment(count);
		}
	}

}
