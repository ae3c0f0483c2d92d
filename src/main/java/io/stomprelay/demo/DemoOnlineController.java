package io.stomprelay.demo;

import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.stomprelay.presence.ClusterSession;
import io.stomprelay.presence.ClusterSessions;
import io.stomprelay.system.NodeIdentity;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.http.HttpStatus;
import org.springframework.http.ProblemDetail;
import org.springframework.web.ErrorResponseException;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * Demo-only list of who is online across the cluster, for the demo page's <em>Online</em> panel
 * ({@code stomp-relay.demo.enabled=true} and {@code stomp-relay.presence.enabled=true}): per user,
 * the number of sessions and the nodes that hold them. Open to anyone like the demo token endpoint
 * (it names every connected user, so it must never run in production). Answers from
 * {@link ClusterSessions#users()} without holding a request thread while Redis is read; anonymous
 * sessions are not users and are not listed.
 */
@RestController
@ConditionalOnProperty(name = { "stomp-relay.demo.enabled", "stomp-relay.presence.enabled" }, havingValue = "true")
class DemoOnlineController {

	/** At most this many users are listed, in name order; {@code more} counts the rest. */
	static final int MAX_USERS = 100;

	private static final long TIMEOUT_SECONDS = 3;

	private final ObjectProvider<ClusterSessions> sessions;

	private final NodeIdentity node;

	/**
	 * @param sessions the cluster presence; absent while the relay is off (one node: the panel then
	 * answers 503)
	 */
	DemoOnlineController(ObjectProvider<ClusterSessions> sessions, NodeIdentity node) {
		this.sessions = sessions;
		this.node = node;
	}

	@GetMapping("/api/demo/online")
	CompletableFuture<Online> online() {
		ClusterSessions sessions = this.sessions.getIfAvailable();
		CompletableFuture<Map<String, List<ClusterSession>>> online = (sessions != null) ? sessions.users()
				: CompletableFuture.failedFuture(new IllegalStateException("no cluster presence"));
		return online
			.orTimeout(TIMEOUT_SECONDS, TimeUnit.SECONDS)
			.thenApply(users -> Online.of(this.node.id(), users))
			.exceptionally(failure -> {
				ProblemDetail problem = ProblemDetail.forStatusAndDetail(HttpStatus.SERVICE_UNAVAILABLE,
						"Who is online could not be read in time; try again.");
				problem.setTitle("Presence unavailable");
				throw new ErrorResponseException(HttpStatus.SERVICE_UNAVAILABLE, problem, null);
			});
	}

	/**
	 * @param node the node that answered
	 * @param total how many users are online
	 * @param users the first {@value #MAX_USERS} of them by name
	 * @param more how many are not listed
	 */
	record Online(String node, int total, List<OnlineUser> users, int more) {

		static Online of(String node, Map<String, List<ClusterSession>> users) {
			List<OnlineUser> listed = users.entrySet()
				.stream()
				.filter(entry -> !entry.getValue().isEmpty())
				.sorted(Map.Entry.comparingByKey(Comparator.naturalOrder()))
				.limit(MAX_USERS)
				.map(entry -> OnlineUser.of(entry.getKey(), entry.getValue()))
				.toList();
			int total = (int) users.values().stream().filter(sessions -> !sessions.isEmpty()).count();
			return new Online(node, total, listed, total - listed.size());
		}

	}

	/**
	 * @param user the user name
	 * @param sessions how many sessions the user has on all nodes together
	 * @param nodes the nodes holding them, sorted
	 */
	record OnlineUser(String user, int sessions, List<String> nodes) {

		static OnlineUser of(String user, List<ClusterSession> sessions) {
			TreeSet<String> nodes = new TreeSet<>();
			sessions.forEach(session -> nodes.add(session.node()));
			return new OnlineUser(user, sessions.size(), List.copyOf(nodes));
		}

	}

}
