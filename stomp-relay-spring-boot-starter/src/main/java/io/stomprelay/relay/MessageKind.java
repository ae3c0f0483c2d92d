package io.stomprelay.relay;

/**
 * What kind of audience a relayed message has. The wire code is part of the envelope format.
 */
public enum MessageKind {

	/** Every session of one user, on every node ({@code /user/{name}/...}). */
	USER(1),

	/** Every subscriber of a {@code /topic} destination, on every node, anonymous included. */
	ALL(2),

	/** Only the authenticated subscribers of a {@code /topic} destination, on every node. */
	AUTHENTICATED(3),

	/**
	 * Not a message but a control: every session of one user, on every node, is ended with
	 * {@code ERROR} "disconnected by server" ({@link UserDisconnects}). Travels on the user's channel,
	 * after the messages published to that user before it.
	 */
	DISCONNECT(4);

	/** {@link #values()} copies its array at every call; decoding reads this one. */
	private static final MessageKind[] KINDS = values();

	private final byte code;

	MessageKind(int code) {
		this.code = (byte) code;
	}

	byte code() {
		return this.code;
	}

	static MessageKind fromCode(byte code) {
		for (MessageKind kind : KINDS) {
			if (kind.code == code) {
				return kind;
			}
		}
		throw new EnvelopeFormatException("unknown kind " + code);
	}

	/** @return whether it travels on its user's channel (rather than a destination's) */
	public boolean perUser() {
		return this == USER || this == DISCONNECT;
	}

	/** @return the lower-case name used in metric tags */
	public String tag() {
		return name().toLowerCase();
	}

}
