package io.stomprelay.presence;

import java.time.Instant;
import java.util.List;

/**
 * One STOMP session somewhere in the cluster, as the presence lists it.
 *
 * @param id the session id (unique within its node)
 * @param user the user it authenticated as
 * @param instance the node process that holds it
 * @param node the id of that node
 * @param connectedAt when its CONNECT was admitted
 * @param subscriptions the destinations it subscribes to, as the client named them
 */
public record ClusterSession(String id, String user, String instance, String node, Instant connectedAt,
		List<String> subscriptions) {
}
