package io.stomprelay.session;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.context.event.EventListener;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;

/**
 * This node's STOMP sessions: one {@link LocalSession} per session id, the one source of truth
 * for which sessions the node has, whose they are, what they subscribe to and since when.
 * <p>A session has three moments. It is <b>opened</b> first and <b>ended</b> last, each exactly
 * once, and <b>closed</b> at most once in between:
 * <ol>
 * <li><b>opened</b> ({@link #open}): its CONNECT is admitted, by the limits on the thread that read
 * it, right after authentication and before the frame goes on to the inbound lanes, so every later
 * frame of the session finds it. Spring lets one CONNECT per session get this far. A CONNECT
 * refused here (too many sessions of one user) leaves nothing behind;</li>
 * <li><b>closed</b> ({@link #closed}): its WebSocket connection has gone (Spring's
 * {@link SessionDisconnectEvent}, which may come more than once). The session is no longer
 * {@linkplain LocalSession#isOpen() open}: it no longer counts towards its user's sessions, but it
 * is still listed. A session that ended first (a client DISCONNECT) is not reported closed;</li>
 * <li><b>ended</b> ({@link #end}): removed, by the session's last frame in its inbound order (a
 * client DISCONNECT, or the one Spring sends after the connection closed, see
 * {@code SessionLanes}), so no frame the session sent before finds it gone, and nothing a frame
 * added can outlive it. Frames that come after the end find no session and change nothing.</li>
 * </ol>
 * Features that act on these moments register a {@link Listener}. The listeners of one session
 * run one moment at a time, in that order, on the thread of the moment; they must be quick. The
 * registry also publishes the gauge {@code stomp.relay.sessions{kind}}: the sessions listed, by
 * kind.
 */
public class LocalSessionRegistry {

	private final ConcurrentHashMap<String, LocalSession> sessions = new ConcurrentHashMap<>();

	/** Each user's sessions, for the per-user limit and for lookups; replaced, never changed. */
	private final ConcurrentHashMap<String, List<LocalSession>> sessionsByUser = new ConcurrentHashMap<>();

	private final List<Listener> listeners = new CopyOnWriteArrayList<>();

	private final Clock clock;

	public LocalSessionRegistry(MeterRegistry registry) {
		this(Clock.systemUTC(), registry);
	}

	/**
	 * @param clock what {@link LocalSession#connectedAt()} is read from
	 * @param registry where the session gauges are registered
	 */
	public LocalSessionRegistry(Clock clock, MeterRegistry registry) {
		this.clock = clock;
		for (LocalSession.Kind kind : LocalSession.Kind.values()) {
			Gauge.builder("stomp.relay.sessions", this, sessions -> sessions.count(kind))
				.description("Open STOMP sessions on this node")
				.tag("kind", kind.tag())
				.register(registry);
		}
		Gauge.builder("stomp.relay.outbound.waiting", this, LocalSessionRegistry::waitingDeliveries)
			.description("Messages the broker has handed to this node's sessions that still wait in their "
					+ "ordered outbound queues: a node short of CPU for its deliveries shows here first")
			.register(registry);
	}

	/** @return the deliveries waiting for all listed sessions, see {@link LocalSession#waitingDeliveries()} */
	public long waitingDeliveries() {
		long waiting = 0;
		for (LocalSession session : this.sessions.values()) {
			waiting += session.waitingDeliveries();
		}
		return waiting;
	}

	/** Adds a listener to every later moment of every session. */
	public void addListener(Listener listener) {
		this.listeners.add(listener);
	}

	/**
	 * Opens a session on its admitted CONNECT. The per-user limit is checked and the session
	 * listed in one step, so concurrent CONNECTs of one user cannot both take the last place.
	 * @param user the authenticated user, {@code null} for an anonymous session
	 * @param tokenExpiresAt when its token expires, {@code null} when it has no {@code exp}
	 * @param inboundRate its inbound frame allowance
	 * @param maxSessionsOfUser how many open sessions one user may have on this node
	 * @return the new session, the listed one if the id is already open, or {@code null} when the
	 * user already has {@code maxSessionsOfUser} open sessions (then nothing is listed)
	 */
	public LocalSession open(String sessionId, String user, Instant tokenExpiresAt, TokenBucket inboundRate,
			int maxSessionsOfUser) {
		LocalSession listed = this.sessions.get(sessionId);
		if (listed != null) {
			return listed;
		}
		LocalSession session = new LocalSession(sessionId, user, Instant.now(this.clock), tokenExpiresAt, inboundRate);
		synchronized (session) {
			if (user == null) {
				this.sessions.put(sessionId, session);
			}
			else if (!admit(session, maxSessionsOfUser)) {
				return null;
			}
			this.listeners.forEach(listener -> listener.opened(session));
		}
		return session;
	}

	private boolean admit(LocalSession session, int maxSessionsOfUser) {
		boolean[] admitted = new boolean[1];
		this.sessionsByUser.compute(session.user(), (user, current) -> {
			List<LocalSession> sessions = (current != null) ? current : List.of();
			if (sessions.stream().filter(LocalSession::isOpen).count() >= maxSessionsOfUser) {
				return current;
			}
			admitted[0] = true;
			this.sessions.put(session.id(), session);
			List<LocalSession> more = new ArrayList<>(sessions);
			more.add(session);
			return List.copyOf(more);
		});
		return admitted[0];
	}

	/**
	 * Marks a listed session closed (its connection has gone), once.
	 * @param status why the connection closed, may be {@code null}
	 */
	public void closed(String sessionId, CloseStatus status) {
		LocalSession session = get(sessionId);
		if (session == null) {
			return;
		}
		synchronized (session) {
			if (session.markClosed()) {
				this.listeners.forEach(listener -> listener.closed(session, status));
			}
		}
	}

	@EventListener
	void onDisconnect(SessionDisconnectEvent event) {
		closed(event.getSessionId(), event.getCloseStatus());
	}

	/**
	 * Ends a session: removes it, once. Call it from the session's last frame, in the session's
	 * frame order.
	 * @return the session that ended, with its last state, or {@code null} if it was not listed
	 */
	public LocalSession end(String sessionId) {
		LocalSession session = (sessionId != null) ? this.sessions.remove(sessionId) : null;
		if (session == null) {
			return null;
		}
		if (session.user() != null) {
			this.sessionsByUser.computeIfPresent(session.user(), (user, current) -> {
				List<LocalSession> rest = current.stream().filter(s -> s != session).toList();
				return rest.isEmpty() ? null : rest;
			});
		}
		synchronized (session) {
			session.markEnded();
			this.listeners.forEach(listener -> listener.ended(session));
		}
		return session;
	}

	/**
	 * Records a subscription as the broker takes it, in the session's frame order, and tells the
	 * listeners.
	 * @return the destination the subscription id stood for until now, {@code null} if none
	 */
	public String subscribe(LocalSession session, String subscriptionId, String destination) {
		synchronized (session) {
			String previous = session.subscribe(subscriptionId, destination);
			this.listeners.forEach(listener -> listener.subscriptionsChanged(session));
			return previous;
		}
	}

	/**
	 * Removes a subscription as the broker drops it, in the session's frame order, and tells the
	 * listeners when there was one.
	 * @return the destination it stood for, {@code null} if the id was not subscribed
	 */
	public String unsubscribe(LocalSession session, String subscriptionId) {
		synchronized (session) {
			String destination = session.unsubscribe(subscriptionId);
			if (destination != null) {
				this.listeners.forEach(listener -> listener.subscriptionsChanged(session));
			}
			return destination;
		}
	}

	/** @return the listed session with this id, {@code null} if there is none */
	public LocalSession get(String sessionId) {
		return (sessionId != null) ? this.sessions.get(sessionId) : null;
	}

	/** @return the listed sessions of one user on this node, oldest first */
	public List<LocalSession> sessionsOf(String user) {
		return (user != null) ? this.sessionsByUser.getOrDefault(user, List.of()) : List.of();
	}

	/** @return every listed session; a copy */
	public List<LocalSession> all() {
		return List.copyOf(this.sessions.values());
	}

	/** @return how many sessions of that kind are listed */
	public long count(LocalSession.Kind kind) {
		return this.sessions.values().stream().filter(session -> session.kind() == kind).count();
	}

	/**
	 * What a feature does at a session's moments. Runs on the thread of the moment: {@code opened}
	 * on the thread that read the CONNECT, {@code closed} on the one that saw the connection go,
	 * {@code subscriptionsChanged} and {@code ended} in the session's frame order. A session that
	 * ends without being reported closed (a client DISCONNECT) gets {@code ended} only.
	 */
	public interface Listener {

		/** The session was admitted and is listed. */
		default void opened(LocalSession session) {
		}

		/** The session's subscriptions changed (see {@link LocalSession#subscriptions()}). */
		default void subscriptionsChanged(LocalSession session) {
		}

		/**
		 * The session's connection has gone.
		 * @param status why, may be {@code null}
		 */
		default void closed(LocalSession session, CloseStatus status) {
		}

		/** The session ended and is no longer listed. */
		default void ended(LocalSession session) {
		}

	}

}
