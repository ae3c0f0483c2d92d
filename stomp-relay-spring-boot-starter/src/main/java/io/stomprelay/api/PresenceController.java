package io.stomprelay.api;

import java.util.List;
import java.util.concurrent.CompletableFuture;

import io.stomprelay.presence.ClusterSession;
import io.stomprelay.presence.ClusterSessions;
import io.stomprelay.presence.PresenceSummary;

import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.DeleteMapping;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * The HTTP face of the cluster presence (admin JWT, like the push API): one user's sessions on
 * every node, the cluster's numbers, and disconnecting a user everywhere. Reads answer
 * asynchronously from Redis (no request thread waits for it), with this node's own view when Redis
 * cannot be read ({@code "complete": false} in {@code /api/presence}).
 */
@RestController
@RequestMapping("/api")
class PresenceController {

	private final ClusterSessions sessions;

	PresenceController(ClusterSessions sessions) {
		this.sessions = sessions;
	}

	@GetMapping("/users/{user}")
	CompletableFuture<UserSessions> user(@PathVariable String user) {
		MessagePushController.checkUser(user);
		return this.sessions.sessionsOf(user)
			.thenApply(found -> new UserSessions(user, found.stream().map(SessionView::of).toList()));
	}

	@GetMapping("/presence")
	CompletableFuture<PresenceSummary> presence() {
		return this.sessions.summary();
	}

	@DeleteMapping("/users/{user}/sessions")
	ResponseEntity<PushAccepted> disconnect(@PathVariable String user) {
		MessagePushController.checkUser(user);
		return MessagePushController.accepted(this.sessions.disconnect(user));
	}

	/**
	 * @param user the user asked for
	 * @param sessions the user's sessions on every node, oldest first
	 */
	record UserSessions(String user, List<SessionView> sessions) {
	}

	/**
	 * @param id the session id
	 * @param node the node that holds it
	 * @param connectedAt ISO-8601
	 * @param subscriptions its destinations as the client named them
	 */
	record SessionView(String id, String node, String connectedAt, List<String> subscriptions) {

		static SessionView of(ClusterSession session) {
			return new SessionView(session.id(), session.node(), session.connectedAt().toString(),
					session.subscriptions());
		}

	}

}
