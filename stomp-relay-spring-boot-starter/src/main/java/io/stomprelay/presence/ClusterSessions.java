package io.stomprelay.presence;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

import io.stomprelay.relay.UserDisconnects;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;

/**
 * The Java API of the cluster presence and control, for application code: who is connected on any
 * node, and ending a user's sessions everywhere (e.g. on logout or when an account is locked).
 * <p>Reads go to Redis and complete on its I/O thread: compose on them, do not block on them from
 * a thread that serves clients. When Redis cannot be read they complete with this node's own view
 * instead (its sessions are always right), marked {@linkplain PresenceSummary#complete() incomplete}
 * where the answer has room to say so.
 */
public class ClusterSessions {

	private final PresenceStore store;

	private final LocalSessionRegistry sessions;

	private final UserDisconnects disconnects;

	private final String nodeId;

	public ClusterSessions(String nodeId, PresenceStore store, LocalSessionRegistry sessions,
			UserDisconnects disconnects) {
		this.nodeId = nodeId;
		this.store = store;
		this.sessions = sessions;
		this.disconnects = disconnects;
	}

	/** @return the user's sessions on every live node, oldest first; empty when there are none */
	public CompletableFuture<List<ClusterSession>> sessionsOf(String user) {
		return this.store.sessionsOf(user).exceptionally(failure -> local(this.sessions.sessionsOf(user)));
	}

	/** @return every connected user's sessions on every live node */
	public CompletableFuture<Map<String, List<ClusterSession>>> users() {
		return this.store.everyone().exceptionally(failure -> {
			Map<String, List<ClusterSession>> users = new LinkedHashMap<>();
			for (ClusterSession session : local(this.sessions.all())) {
				users.computeIfAbsent(session.user(), user -> new ArrayList<>()).add(session);
			}
			return users;
		});
	}

	/** @return how many users and sessions the cluster has, per node */
	public CompletableFuture<PresenceSummary> summary() {
		return this.store.sessionsPerInstance().thenApply(perInstance -> {
			Set<String> users = new HashSet<>();
			Map<String, Integer> perNode = new TreeMap<>();
			perInstance.forEach((instance, sessions) -> {
				sessions.values().stream().filter(user -> !user.isEmpty()).forEach(users::add);
				perNode.merge(PresenceStore.nodeOf(instance), sessions.size(), Integer::sum);
			});
			return summary(users.size(), perNode, true);
		}).exceptionally(failure -> {
			List<LocalSession> open = this.sessions.all().stream().filter(LocalSession::isConnected).toList();
			int users = (int) open.stream().map(LocalSession::user).filter(user -> user != null).distinct().count();
			return summary(users, Map.of(this.nodeId, open.size()), false);
		});
	}

	private static PresenceSummary summary(int users, Map<String, Integer> perNode, boolean complete) {
		List<PresenceSummary.NodeSessions> nodes = perNode.entrySet()
			.stream()
			.map(node -> new PresenceSummary.NodeSessions(node.getKey(), node.getValue()))
			.toList();
		return new PresenceSummary(users, nodes.stream().mapToInt(PresenceSummary.NodeSessions::sessions).sum(),
				nodes, complete);
	}

	/**
	 * Ends every session of the user on every node with {@code ERROR} "disconnected by server".
	 * Returns at once; each node closes its sessions within moments.
	 * @return the request's id
	 */
	public String disconnect(String user) {
		return this.disconnects.disconnect(user);
	}

	private List<ClusterSession> local(List<LocalSession> sessions) {
		return sessions.stream()
			.filter(session -> session.user() != null && session.isConnected() && session.isOpen())
			.map(session -> new ClusterSession(session.id(), session.user(), this.store.instance(), this.nodeId,
					session.connectedAt(), session.destinations()))
			.toList();
	}

}
