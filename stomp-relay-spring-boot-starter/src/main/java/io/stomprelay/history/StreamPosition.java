package io.stomprelay.history;

/**
 * Where a message sits in its destination's history: the stream's epoch and the message's offset
 * in it. Offsets count 1, 2, 3, ... without holes within one epoch, so a jump shows a missed
 * message. A new epoch starts whenever the stream is created anew (the first message ever, after
 * the history expired, after Redis lost it in a restart), so a position from an earlier life of the
 * stream is never mistaken for one of this life.
 * <p>Clients see it as the opaque {@code stream-position} header, {@code <epoch>-<offset>}, and hand
 * it back in {@code resume-from} (no colon: STOMP would escape it in a header value).
 *
 * @param epoch the stream's life: digits from Redis's clock when the stream was created
 * @param offset the message's number in that life, from 1
 */
public record StreamPosition(String epoch, long offset) {

	private static final int MAX_EPOCH_LENGTH = 32;

	/**
	 * @return the position as clients see it
	 */
	public String format() {
		return this.epoch + "-" + this.offset;
	}

	/** @return whether both positions belong to the same life of the stream */
	public boolean sameEpoch(StreamPosition other) {
		return other != null && this.epoch.equals(other.epoch);
	}

	/**
	 * @param text a position a client sent, or one written by Redis
	 * @return the position, or {@code null} when the text is not one (anything a client made up)
	 */
	public static StreamPosition parse(String text) {
		if (text == null) {
			return null;
		}
		int colon = text.indexOf('-');
		if (colon <= 0 || colon > MAX_EPOCH_LENGTH || colon == text.length() - 1 || text.length() - colon > 19) {
			return null;
		}
		for (int i = 0; i < colon; i++) {
			if (!Character.isDigit(text.charAt(i))) {
				return null;
			}
		}
		long offset = 0;
		for (int i = colon + 1; i < text.length(); i++) {
			char c = text.charAt(i);
			if (c < '0' || c > '9') {
				return null;
			}
			offset = offset * 10 + (c - '0');
		}
		return (offset > 0) ? new StreamPosition(text.substring(0, colon), offset) : null;
	}

}
