package io.stomprelay.relay;

/**
 * Which destinations the relay carries between nodes, and how a user destination names its user.
 * {@code /user/{name}/...} is the user kind; {@code /topic/...} the broadcast kinds. Everything
 * else ({@code /queue/...} resolved per session, session-targeted user messages) stays local.
 */
final class DestinationKinds {

	static final String USER_PREFIX = "/user/";

	static final String TOPIC_PREFIX = "/topic/";

	private DestinationKinds() {
	}

	/**
	 * @param destination e.g. {@code /user/alice/queue/events}
	 * @return the user name ({@code %2F} decoded to {@code /}, as Spring does), or {@code null}
	 * when the destination names no user and a rest
	 */
	static String userOf(String destination) {
		int start = USER_PREFIX.length();
		int end = destination.indexOf('/', start);
		if (end <= start || end == destination.length() - 1) {
			return null;
		}
		return destination.substring(start, end).replace("%2F", "/");
	}

	/**
	 * @return the destination as it may appear in a log line: the user of a user destination is
	 * replaced by {@code *}, so logs name no user
	 */
	static String forLog(String destination) {
		if (destination == null || !destination.startsWith(USER_PREFIX)) {
			return destination;
		}
		int end = destination.indexOf('/', USER_PREFIX.length());
		return (end < 0) ? USER_PREFIX + "*" : USER_PREFIX + "*" + destination.substring(end);
	}

}
