package io.stomprelay.relay;

/**
 * What the relay needs to know about this node's own STOMP sessions when it decides whether a
 * message leaves the node.
 */
public interface LocalSessions {

	/** @return whether the session is open on this node */
	boolean isLocal(String sessionId);

	/**
	 * @return the user of a session open on this node, {@code null} when it is anonymous or not on
	 * this node
	 */
	String userOf(String sessionId);

	/**
	 * Whether a user message with a session id targets exactly one session of this node (Spring's
	 * {@code @SendToUser(broadcast = false)}, or a reply to an anonymous sender, whose "user" is its
	 * session id). Any other session id (another node's, another user's, a stale one) does not make
	 * the message local.
	 * @param user the user named in the {@code /user/{user}/...} destination
	 * @param sessionId the message's session id header, may be {@code null}
	 */
	default boolean targetsOneLocalSession(String user, String sessionId) {
		if (sessionId == null || !isLocal(sessionId)) {
			return false;
		}
		String owner = userOf(sessionId);
		return (owner != null) ? owner.equals(user) : sessionId.equals(user);
	}

}
