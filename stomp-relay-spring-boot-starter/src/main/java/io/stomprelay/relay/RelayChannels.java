package io.stomprelay.relay;

/**
 * Builds every Redis channel and key name the relay uses, from one namespace
 * ({@code stomp-relay.redis.channel-prefix}). Channels:
 * <ul>
 * <li>{@code <prefix>:user:{<name>}} carries the messages for one user;</li>
 * <li>{@code <prefix>:destination:{<destination>}} carries the messages for one {@code /topic}
 * destination, both the all and the authenticated kind;</li>
 * <li>{@code <prefix>:node:<node id>} is held by the node with that id while it runs (a second
 * node with the same id is refused at start-up).</li>
 * </ul>
 * Keys of the cluster presence (see {@code io.stomprelay.presence.PresenceStore}):
 * <ul>
 * <li>{@code <prefix>:presence:user:{<name>}}, a hash, session id to that session's record, for
 * every session of one user on every node;</li>
 * <li>{@code <prefix>:presence:instance:{<instance>}}, a hash, session id to user name, for every
 * session of one running node process (an <i>instance</i>: the node id plus a start-up id);</li>
 * <li>{@code <prefix>:presence:instances}, a sorted set, each instance scored with its deadline:
 * the instance counts as alive until then, and renews it while it runs.</li>
 * </ul>
 * Keys of the message history (see {@code io.stomprelay.history.HistoryStore}), for a destination
 * that keeps it:
 * <ul>
 * <li>{@code <prefix>:history:{<destination>}} for a {@code /topic} destination, and
 * {@code <prefix>:history:{<name>}<destination>} for a user destination, a stream of the
 * destination's recent envelopes;</li>
 * <li>the same names with {@code history-meta} instead of {@code history}, a hash with the stream's
 * epoch, last offset, last message id and the replication id of the master that numbered it.</li>
 * </ul>
 * The part in braces is a Redis Cluster hash tag: a channel and the keys kept for it (a user's
 * channel and presence hash) hash to one slot, that of the name between the braces, so a script
 * touches one shard. The prefix may not contain braces. No other class concatenates channel or key names.
 */
public final class RelayChannels {

	private final String userPrefix;

	private final String destinationPrefix;

	private final String nodePrefix;

	private final String presencePrefix;

	private final String historyPrefix;

	private final String historyMetaPrefix;

	public RelayChannels(String namespace) {
		if (namespace == null || namespace.isBlank()) {
			throw new IllegalArgumentException("channel prefix must not be blank");
		}
		if (namespace.contains("{") || namespace.contains("}")) {
			throw new IllegalArgumentException("channel prefix must not contain '{' or '}' (Redis Cluster hash tags)");
		}
		this.userPrefix = namespace + ":user:";
		this.destinationPrefix = namespace + ":destination:";
		this.nodePrefix = namespace + ":node:";
		this.presencePrefix = namespace + ":presence:";
		this.historyPrefix = namespace + ":history:";
		this.historyMetaPrefix = namespace + ":history-meta:";
	}

	/** @return the hash of one user's sessions on every node */
	public String presenceUserKey(String user) {
		return this.presencePrefix + "user:{" + user + "}";
	}

	/** @return the hash of one node instance's sessions */
	public String presenceInstanceKey(String instance) {
		return this.presencePrefix + "instance:{" + instance + "}";
	}

	/** @return the sorted set of node instances and their deadlines */
	public String presenceInstancesKey() {
		return this.presencePrefix + "instances";
	}

	/**
	 * @param user the user of a user destination, {@code null} for a {@code /topic} destination
	 * @param destination as the relay carries it, e.g. {@code /topic/chat} or
	 * {@code /user/alice/queue/notes}
	 * @return the stream of the destination's history, in its channel's slot
	 */
	public String historyStreamKey(String user, String destination) {
		return this.historyPrefix + historyTag(user, destination);
	}

	/** @return the hash with the epoch and last offset of {@link #historyStreamKey} */
	public String historyMetaKey(String user, String destination) {
		return this.historyMetaPrefix + historyTag(user, destination);
	}

	private static String historyTag(String user, String destination) {
		return (user != null) ? "{" + user + "}" + destination : "{" + destination + "}";
	}

	public String nodeChannel(String nodeId) {
		return this.nodePrefix + nodeId;
	}

	public String userChannel(String user) {
		return this.userPrefix + "{" + user + "}";
	}

	public String destinationChannel(String destination) {
		return this.destinationPrefix + "{" + destination + "}";
	}

	/**
	 * @return the channel a message of this kind travels on
	 */
	public String channelFor(MessageKind kind, String user, String destination) {
		return kind.perUser() ? userChannel(user) : destinationChannel(destination);
	}

}
