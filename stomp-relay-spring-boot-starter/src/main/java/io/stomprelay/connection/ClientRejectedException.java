package io.stomprelay.connection;

/**
 * A client's frame is refused for a reason the client may know. The message is a short, fixed
 * sentence that is safe to send in a STOMP {@code ERROR} frame: it never contains a token, a
 * payload or an exception text.
 */
public class ClientRejectedException extends RuntimeException {

	public ClientRejectedException(String safeMessage) {
		super(safeMessage, null, false, false);
	}

}
