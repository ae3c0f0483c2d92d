package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.event.EventListener;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;

/**
 * Ends authenticated sessions when their token expires: at {@code exp} plus the configured clock
 * skew (the verifier accepts a token until then, so a session that connected within the skew must
 * not be cut at once), or after the configured maximum session age for tokens without one, the
 * client gets an {@code ERROR} frame ("token expired") and the connection is closed. A client
 * reconnects with a fresh token. The task is cancelled when the session ends first.
 */
public class SessionExpiry {

	private static final Logger logger = LoggerFactory.getLogger(SessionExpiry.class);

	private final TaskScheduler scheduler;

	private final ClientErrors clientErrors;

	private final Duration maxSessionAge;

	private final Duration clockSkew;

	private final Map<String, ScheduledFuture<?>> expiries = new ConcurrentHashMap<>();

	private final String nodeId;

	/**
	 * @param maxSessionAge how long a session whose token has no {@code exp} may last
	 * @param clockSkew the {@code stomp-relay.auth.jwt.clock-skew} the verifier allows past {@code exp}
	 */
	public SessionExpiry(String nodeId, TaskScheduler scheduler, ClientErrors clientErrors, Duration maxSessionAge,
			Duration clockSkew) {
		this.nodeId = nodeId;
		this.scheduler = scheduler;
		this.clientErrors = clientErrors;
		this.maxSessionAge = maxSessionAge;
		this.clockSkew = clockSkew;
	}

	/**
	 * Schedules the end of an authenticated session.
	 * @param sessionId the session
	 * @param expiresAt the token's {@code exp}, or {@code null} when it has none; the session ends at
	 * {@code exp} plus the clock skew
	 */
	public void sessionAuthenticated(String sessionId, Instant expiresAt) {
		if (sessionId == null) {
			return;
		}
		Instant end = (expiresAt != null) ? expiresAt.plus(this.clockSkew) : Instant.now().plus(this.maxSessionAge);
		ScheduledFuture<?> task = this.scheduler.schedule(() -> expire(sessionId), end);
		ScheduledFuture<?> previous = this.expiries.put(sessionId, task);
		if (previous != null) {
			previous.cancel(false);
		}
	}

	/** @return sessions with a scheduled expiry, for tests and metrics */
	public int scheduled() {
		return this.expiries.size();
	}

	@EventListener
	void onDisconnect(SessionDisconnectEvent event) {
		ScheduledFuture<?> task = this.expiries.remove(event.getSessionId());
		if (task != null) {
			task.cancel(false);
		}
	}

	private void expire(String sessionId) {
		if (this.expiries.remove(sessionId) == null) {
			return;
		}
		logger.info("Node {}: session {} closed: token expired", this.nodeId, sessionId);
		this.clientErrors.closeWithError(sessionId, TokenVerifier.TOKEN_EXPIRED);
	}

}
