package io.stomprelay.relay;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The relay's meters (all also tagged with the node id):
 * <ul>
 * <li>{@code stomp_relay_published_total{kind}}: messages published to Redis;</li>
 * <li>{@code stomp_relay_received_total{kind}}: messages from other nodes delivered locally;</li>
 * <li>{@code stomp_relay_echoes_total}: this node's own messages coming back from Redis, ignored;</li>
 * <li>{@code stomp_relay_duplicates_total}: messages that arrived from Redis a second time and were
 * not delivered again ({@link ReceiveGaps#REPEAT});</li>
 * <li>{@code stomp_relay_inbound_total} and {@code stomp_relay_inbound_bytes_total}: every pub/sub
 * message Redis sent this node, and its payload bytes, counted on arrival before any check (so
 * echoes, broken envelopes and messages dropped later are included): this node's Redis inbound
 * traffic, which follows the users and destinations of its own sessions;</li>
 * <li>{@code stomp_relay_dropped_total{reason}}: messages lost, by {@link DropReason};</li>
 * <li>{@code stomp_relay_publish_latency_seconds}: time for Redis to acknowledge a publish;</li>
 * <li>{@code stomp_relay_delivery_latency_seconds}: origin publish to local hand-off;</li>
 * <li>{@code stomp_relay_local_deliveries_total}: MESSAGE frames handed to this node's sessions;</li>
 * <li>{@code stomp_relay_slow_consumers_total}: sessions closed because they did not read fast
 * enough.</li>
 * </ul>
 * Drops are also logged with the node id, at most once per reason every ten seconds, with the count
 * since.
 */
public class RelayMetrics {

	private static final Logger logger = LoggerFactory.getLogger(RelayMetrics.class);

	private static final long LOG_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(10);

	private final Map<MessageKind, Counter> published = new EnumMap<>(MessageKind.class);

	private final Map<MessageKind, Counter> received = new EnumMap<>(MessageKind.class);

	private final Map<DropReason, Counter> dropped = new EnumMap<>(DropReason.class);

	private final Map<DropReason, AtomicLong> unloggedDrops = new ConcurrentHashMap<>();

	private final Map<DropReason, AtomicLong> lastLogged = new ConcurrentHashMap<>();

	private final Counter echoes;

	private final Counter duplicates;

	private final Counter inbound;

	private final Counter inboundBytes;

	private final Timer publishLatency;

	private final Timer deliveryLatency;

	private final Counter localDeliveries;

	private final Counter slowConsumers;

	private final String nodeId;

	public RelayMetrics(MeterRegistry registry, String nodeId) {
		this.nodeId = nodeId;
		for (MessageKind kind : MessageKind.values()) {
			this.published.put(kind, Counter.builder("stomp.relay.published")
				.description("Messages published to Redis for other nodes").tag("kind", kind.tag()).register(registry));
			this.received.put(kind, Counter.builder("stomp.relay.received")
				.description("Messages from other nodes delivered to local sessions").tag("kind", kind.tag())
				.register(registry));
		}
		for (DropReason reason : DropReason.values()) {
			this.dropped.put(reason, Counter.builder("stomp.relay.dropped")
				.description("Messages not relayed or not delivered").tag("reason", reason.tag()).register(registry));
			this.unloggedDrops.put(reason, new AtomicLong());
			this.lastLogged.put(reason, new AtomicLong(System.nanoTime() - LOG_INTERVAL_NANOS));
		}
		this.echoes = Counter.builder("stomp.relay.echoes")
			.description("This node's own messages returned by Redis and ignored").register(registry);
		this.duplicates = Counter.builder("stomp.relay.duplicates")
			.description("Messages that arrived from Redis a second time (a publish re-sent after a reconnect, "
					+ "a channel moving between shards) and were not delivered again")
			.register(registry);
		this.inbound = Counter.builder("stomp.relay.inbound")
			.description("Pub/sub messages Redis sent this node, before any check").register(registry);
		this.inboundBytes = Counter.builder("stomp.relay.inbound.bytes")
			.description("Payload bytes of the pub/sub messages Redis sent this node (channel names not included)")
			.register(registry);
		this.publishLatency = Timer.builder("stomp.relay.publish.latency")
			.description("Time until Redis acknowledged a publish").publishPercentileHistogram().register(registry);
		this.deliveryLatency = Timer.builder("stomp.relay.delivery.latency")
			.description("Time from the origin's publish to local hand-off on this node").publishPercentileHistogram()
			.register(registry);
		this.localDeliveries = Counter.builder("stomp.relay.local.deliveries")
			.description("MESSAGE frames handed to this node's sessions").register(registry);
		this.slowConsumers = Counter.builder("stomp.relay.slow.consumers")
			.description("Sessions closed because the client did not read fast enough").register(registry);
	}

	void published(MessageKind kind, long startNanos) {
		this.published.get(kind).increment();
		this.publishLatency.record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
	}

	void received(MessageKind kind, long originTimestampMillis) {
		this.received.get(kind).increment();
		long latency = System.currentTimeMillis() - originTimestampMillis;
		if (latency >= 0) {
			this.deliveryLatency.record(latency, TimeUnit.MILLISECONDS);
		}
	}

	void delivered() {
		this.localDeliveries.increment();
	}

	void slowConsumer() {
		this.slowConsumers.increment();
	}

	/**
	 * Counts one pub/sub message from Redis as it arrives, before it is decoded. On the Redis I/O
	 * thread for every message, so two counter increments and nothing else.
	 * @param payloadBytes the message's payload length
	 */
	void inbound(int payloadBytes) {
		this.inbound.increment();
		this.inboundBytes.increment(payloadBytes);
	}

	void echo() {
		this.echoes.increment();
	}

	public void duplicate() {
		this.duplicates.increment();
	}

	/**
	 * Counts a lost message and logs it, rate-limited. Never logs a payload.
	 * @param reason why
	 * @param detail a short, safe detail (a destination or an error class), may be {@code null}
	 */
	public void dropped(DropReason reason, String detail) {
		dropped(reason, 1, detail);
	}

	/**
	 * Counts lost messages and logs them, rate-limited. Never logs a payload or a user name.
	 * @param reason why
	 * @param count how many
	 * @param detail a short, safe detail (a destination without its user, or an error class), may be
	 * {@code null}
	 */
	public void dropped(DropReason reason, long count, String detail) {
		this.dropped.get(reason).increment(count);
		AtomicLong unlogged = this.unloggedDrops.get(reason);
		unlogged.addAndGet(count);
		AtomicLong last = this.lastLogged.get(reason);
		long now = System.nanoTime();
		long previous = last.get();
		if (now - previous >= LOG_INTERVAL_NANOS && last.compareAndSet(previous, now)) {
			logger.warn("Node {}: dropped {} message(s) since the last report, reason={}{}", this.nodeId,
					unlogged.getAndSet(0), reason.tag(),
					(detail != null) ? ", last: " + detail : "");
		}
	}

	/** @return how many messages were dropped for a reason so far */
	public double droppedCount(DropReason reason) {
		return this.dropped.get(reason).count();
	}

}
