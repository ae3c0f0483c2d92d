package io.stomprelay.presence;

import java.util.List;

/**
 * Who is connected across the cluster, in numbers.
 *
 * @param users distinct users with at least one session
 * @param sessions sessions, anonymous ones included
 * @param nodes each live node and its sessions
 * @param complete {@code false} when Redis could not be read and this is the asking node's own
 * view only
 */
public record PresenceSummary(int users, int sessions, List<NodeSessions> nodes, boolean complete) {

	/**
	 * @param node a node id
	 * @param sessions its sessions, anonymous ones included
	 */
	public record NodeSessions(String node, int sessions) {
	}

}
