package io.stomprelay.relay;

/**
 * Message headers the relay reads and writes on Spring's broker channel. They are message
 * headers, not STOMP native headers, so they never reach a client.
 */
public final class RelayHeaders {

	/**
	 * Set on a message re-injected from Redis (value: the origin node id), so that it is delivered
	 * locally and never republished.
	 */
	public static final String RELAYED_FROM = "stompRelayRelayedFrom";

	/**
	 * {@value #AUTHENTICATED}: deliver this {@code /topic} message to authenticated subscribers only.
	 */
	public static final String AUDIENCE = "stompRelayAudience";

	/** The audience value for authenticated-only messages. */
	public static final String AUTHENTICATED = "authenticated";

	/** The cluster-wide message id, when the sender chose one (see {@link ClusterMessagingTemplate}). */
	public static final String MESSAGE_ID = "stompRelayMessageId";

	private RelayHeaders() {
	}

}
