package io.stomprelay.history;

import java.util.List;

/**
 * One read of a destination's history.
 *
 * @param epoch the stream's epoch, {@code null} when the destination has no history
 * @param last the offset of the stream's newest message
 * @param entries the messages read, oldest first
 */
public record HistoryBatch(String epoch, long last, List<Entry> entries) {

	/** The answer for a destination without history (never written, expired, or lost by Redis). */
	public static final HistoryBatch NONE = new HistoryBatch(null, 0, List.of());

	/**
	 * @param offset the message's offset in the epoch
	 * @param envelope the encoded envelope
	 */
	public record Entry(long offset, byte[] envelope) {
	}

}
