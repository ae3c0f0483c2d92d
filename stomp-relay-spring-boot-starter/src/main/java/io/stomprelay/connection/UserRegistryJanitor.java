package io.stomprelay.connection;

import java.security.Principal;
import java.time.Duration;
import java.time.Instant;

import io.stomprelay.presence.ClusterUserRegistry;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.ApplicationListener;
import org.springframework.messaging.Message;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.simp.user.SimpSession;
import org.springframework.messaging.simp.user.SimpUser;
import org.springframework.messaging.simp.user.SimpUserRegistry;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.core.task.TaskRejectedException;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;

/**
 * Removes from Spring's local user registry a session whose {@code CONNECTED} frame raced its close.
 * Spring publishes {@code SessionConnectedEvent} on the outbound thread that writes the
 * {@code CONNECTED} frame, without checking that the session is still open; when a client's
 * connection closes at that moment (a CONNECT followed at once by a refused frame), the event can
 * come after the {@code SessionDisconnectEvent}, and {@code DefaultSimpUserRegistry} then keeps the
 * session and its user forever. A moment after every disconnect this checks the registry and, if the
 * session is still there, hands the registry the disconnect again.
 */
public class UserRegistryJanitor implements ApplicationListener<SessionDisconnectEvent> {

	private static final Duration RECHECK_AFTER = Duration.ofSeconds(1);

	private final ObjectProvider<SimpUserRegistry> registry;

	private final TaskScheduler scheduler;

	public UserRegistryJanitor(ObjectProvider<SimpUserRegistry> registry, TaskScheduler scheduler) {
		this.registry = registry;
		this.scheduler = scheduler;
	}

	@Override
	public void onApplicationEvent(SessionDisconnectEvent event) {
		Principal user = event.getUser();
		SimpUserRegistry cluster = this.registry.getIfUnique();
		SimpUserRegistry registry = (cluster != null) ? ClusterUserRegistry.localOf(cluster) : null;
		if (user == null || !(registry instanceof ApplicationListener<?>)) {
			return;
		}
		String sessionId = event.getSessionId();
		try {
			this.scheduler.schedule(() -> recheck(registry, user, sessionId), Instant.now().plus(RECHECK_AFTER));
		}
		catch (TaskRejectedException ex) {
			// The scheduler takes tasks through the node's stop (stompRelayScheduler), so this is a
			// session closing after the scheduler itself was destroyed: the registry goes with the
			// context, so there is nothing left to recheck (and Spring would log the rejection with a
			// stack trace).
		}
	}

	@SuppressWarnings("unchecked")
	private void recheck(SimpUserRegistry registry, Principal user, String sessionId) {
		SimpUser registered = registry.getUser(user.getName());
		SimpSession stale = (registered != null) ? registered.getSession(sessionId) : null;
		if (stale == null) {
			return;
		}
		StompHeaderAccessor disconnect = StompHeaderAccessor.create(StompCommand.DISCONNECT);
		disconnect.setSessionId(sessionId);
		disconnect.setUser(user);
		Message<byte[]> message = MessageBuilder.createMessage(new byte[0], disconnect.getMessageHeaders());
		((ApplicationListener<SessionDisconnectEvent>) registry)
			.onApplicationEvent(new SessionDisconnectEvent(this, message, sessionId, CloseStatus.NORMAL, user));
	}

}
