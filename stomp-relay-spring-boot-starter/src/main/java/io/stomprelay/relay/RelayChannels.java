package io.stomprelay.relay;

/**
 * Builds every Redis channel name the relay uses, from one namespace
 * ({@code stomp-relay.redis.channel-prefix}):
 * <ul>
 * <li>{@code <prefix>:user:<name>} carries the messages for one user;</li>
 * <li>{@code <prefix>:destination:<destination>} carries the messages for one {@code /topic}
 * destination, both the all and the authenticated kind;</li>
 * <li>{@code <prefix>:node:<node id>} is held by the node with that id while it runs (a second
 * node with the same id is refused at start-up).</li>
 * </ul>
 * No other class concatenates channel names.
 */
public final class RelayChannels {

	private final String userPrefix;

	private final String destinationPrefix;

	private final String nodePrefix;

	public RelayChannels(String namespace) {
		if (namespace == null || namespace.isBlank()) {
			throw new IllegalArgumentException("channel prefix must not be blank");
		}
		this.userPrefix = namespace + ":user:";
		this.destinationPrefix = namespace + ":destination:";
		this.nodePrefix = namespace + ":node:";
	}

	public String nodeChannel(String nodeId) {
		return this.nodePrefix + nodeId;
	}

	public String userChannel(String user) {
		return this.userPrefix + user;
	}

	public String destinationChannel(String destination) {
		return this.destinationPrefix + destination;
	}

	/**
	 * @return the channel a message of this kind travels on
	 */
	public String channelFor(MessageKind kind, String user, String destination) {
		return (kind == MessageKind.USER) ? userChannel(user) : destinationChannel(destination);
	}

}
