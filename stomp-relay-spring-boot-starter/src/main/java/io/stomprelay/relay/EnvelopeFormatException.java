package io.stomprelay.relay;

/**
 * Bytes from Redis that are not a valid envelope of a version this node understands.
 */
public class EnvelopeFormatException extends RuntimeException {

	public EnvelopeFormatException(String message) {
		super(message, null, false, false);
	}

}
