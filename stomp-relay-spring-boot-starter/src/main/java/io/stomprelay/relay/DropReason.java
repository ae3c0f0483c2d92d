package io.stomprelay.relay;

/**
 * Why a message was not relayed or not delivered. Every drop is counted under its reason
 * ({@code stomp_relay_dropped_total{reason=...}}) and logged, rate-limited.
 */
public enum DropReason {

	/** Redis could not take a publish (down, or its queue full). */
	REDIS_UNAVAILABLE("redis-unavailable"),

	/**
	 * Redis did not confirm a publish within {@code stomp-relay.redis.command-timeout}: a publish
	 * still waiting to be written is dropped, one already written may still have been delivered,
	 * so this counts messages whose fate is unknown (an overloaded node or Redis).
	 */
	REDIS_TIMEOUT("redis-timeout"),

	/**
	 * Another node published the message successfully, but this node was not subscribed to its
	 * channel at that moment (typically: Redis came back and the publisher was faster than this
	 * node's re-subscription). Found from a jump in that node's sequence on the channel
	 * ({@link ReceiveGaps}) and counted by the node that missed it.
	 */
	MISSED("missed"),

	/** The local delivery lane for a channel was full. */
	DELIVERY_QUEUE_FULL("delivery-queue-full"),

	/** Something on a relay channel was not a valid envelope. */
	BAD_ENVELOPE("bad-envelope"),

	/** An outbound message's payload was not serialized to bytes, so it cannot cross nodes. */
	UNSUPPORTED_PAYLOAD("unsupported-payload"),

	/**
	 * An outbound message could not be put in an envelope other nodes accept: larger than
	 * {@code stomp-relay.relay.max-envelope-size}, too many headers, or a header too long.
	 */
	UNENCODABLE("unencodable");

	private final String tag;

	DropReason(String tag) {
		this.tag = tag;
	}

	public String tag() {
		return this.tag;
	}

}
