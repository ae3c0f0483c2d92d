package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;

import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.scheduling.TaskScheduler;
import org.springframework.web.socket.CloseStatus;

/**
 * Ends authenticated sessions when their token expires: at {@code exp} plus the configured clock
 * skew (the verifier accepts a token until then, so a session that connected within the skew must
 * not be cut at once), or after the configured maximum session age for tokens without one, the
 * client gets an {@code ERROR} frame ("token expired") and the connection is closed. A client
 * reconnects with a fresh token.
 * <p>A listener of the {@link LocalSessionRegistry}: the task is scheduled when an authenticated
 * session opens, kept on the session, and cancelled when the session closes or ends first.
 */
public class SessionExpiry implements LocalSessionRegistry.Listener {

	private static final Logger logger = LoggerFactory.getLogger(SessionExpiry.class);

	private final TaskScheduler scheduler;

	private final ClientErrors clientErrors;

	private final Duration maxSessionAge;

	private final Duration clockSkew;

	private final LocalSessionRegistry sessions;

	private final String nodeId;

	/**
	 * @param maxSessionAge how long a session whose token has no {@code exp} may last
	 * @param clockSkew the {@code stomp-relay.auth.jwt.clock-skew} the verifier allows past {@code exp}
	 * @param sessions the sessions whose expiry this schedules; register this as their listener
	 */
	public SessionExpiry(String nodeId, TaskScheduler scheduler, ClientErrors clientErrors, Duration maxSessionAge,
			Duration clockSkew, LocalSessionRegistry sessions) {
		this.nodeId = nodeId;
		this.scheduler = scheduler;
		this.clientErrors = clientErrors;
		this.maxSessionAge = maxSessionAge;
		this.clockSkew = clockSkew;
		this.sessions = sessions;
	}

	/**
	 * Schedules the end of an authenticated session: at its token's {@code exp} plus the clock
	 * skew or, without {@code exp}, after the maximum session age.
	 */
	@Override
	public void opened(LocalSession session) {
		if (session.user() == null) {
			return;
		}
		Instant end = (session.tokenExpiresAt() != null) ? session.tokenExpiresAt().plus(this.clockSkew)
				: session.connectedAt().plus(this.maxSessionAge);
		session.expireWith(this.scheduler.schedule(() -> expire(session), end));
	}

	@Override
	public void closed(LocalSession session, CloseStatus status) {
		session.cancelExpiry();
	}

	@Override
	public void ended(LocalSession session) {
		session.cancelExpiry();
	}

	/** @return sessions with a scheduled expiry, for tests and metrics */
	public int scheduled() {
		return (int) this.sessions.all().stream().filter(LocalSession::hasExpiry).count();
	}

	private void expire(LocalSession session) {
		if (!session.isOpen()) {
			return;
		}
		session.cancelExpiry();
		logger.info("Node {}: session {} closed: token expired", this.nodeId, session.id());
		this.clientErrors.closeWithError(session.id(), TokenVerifier.TOKEN_EXPIRED);
	}

}
