package io.stomprelay.presence;

import java.security.Principal;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.ApplicationEvent;
import org.springframework.context.event.SmartApplicationListener;
import org.springframework.messaging.simp.user.SimpSession;
import org.springframework.messaging.simp.user.SimpSubscription;
import org.springframework.messaging.simp.user.SimpSubscriptionMatcher;
import org.springframework.messaging.simp.user.SimpUser;
import org.springframework.messaging.simp.user.SimpUserRegistry;

/**
 * The application's {@link SimpUserRegistry}, for the whole cluster: {@code getUser},
 * {@code getUsers}, {@code getUserCount} and {@code findSubscriptions} include the sessions on every
 * node, read from the cluster presence in Redis. Spring's own registry of this node's sessions stays
 * inside ({@link #local()}): it still receives the session events, and Spring's user-destination
 * resolution keeps using it, so {@code /user/...} messages are still delivered by each node to its
 * own sessions only (other nodes' sessions get theirs through the relay).
 * <p>The interface is synchronous: each call waits for Redis, at most
 * {@code stomp-relay.redis.command-timeout}, and answers with this node's own sessions when Redis
 * cannot. Call it where waiting is fine; code on a thread that serves clients should use
 * {@link ClusterSessions}, which is asynchronous.
 * <p>Users of other nodes have no {@link Principal} here ({@link SimpUser#getPrincipal()} is
 * {@code null}), as with Spring's {@code MultiServerUserRegistry}.
 */
public class ClusterUserRegistry implements SimpUserRegistry, SmartApplicationListener {

	private static final Logger logger = LoggerFactory.getLogger(ClusterUserRegistry.class);

	private final SimpUserRegistry local;

	private final ObjectProvider<ClusterSessions> cluster;

	private final Duration timeout;

	/**
	 * @param local Spring's registry of this node's sessions
	 * @param cluster the cluster presence, looked up on first use
	 * @param timeout the longest a call waits for Redis
	 */
	public ClusterUserRegistry(SimpUserRegistry local, ObjectProvider<ClusterSessions> cluster, Duration timeout) {
		this.local = local;
		this.cluster = cluster;
		this.timeout = timeout;
	}

	/** @return Spring's registry of this node's own sessions */
	public SimpUserRegistry local() {
		return this.local;
	}

	/**
	 * @return this node's own registry when {@code registry} is a cluster registry, else
	 * {@code registry} itself
	 */
	public static SimpUserRegistry localOf(SimpUserRegistry registry) {
		return (registry instanceof ClusterUserRegistry cluster) ? cluster.local() : registry;
	}

	@Override
	public @Nullable SimpUser getUser(String userName) {
		List<ClusterSession> sessions = await(() -> this.cluster.getObject().sessionsOf(userName), null);
		if (sessions == null) {
			return this.local.getUser(userName);
		}
		return sessions.isEmpty() ? null : user(userName, sessions);
	}

	@Override
	public Set<SimpUser> getUsers() {
		Map<String, List<ClusterSession>> users = await(() -> this.cluster.getObject().users(), null);
		if (users == null) {
			return this.local.getUsers();
		}
		Set<SimpUser> result = new LinkedHashSet<>();
		users.forEach((name, sessions) -> result.add(user(name, sessions)));
		return result;
	}

	@Override
	public int getUserCount() {
		PresenceSummary summary = await(() -> this.cluster.getObject().summary(), null);
		return (summary != null) ? summary.users() : this.local.getUserCount();
	}

	@Override
	public Set<SimpSubscription> findSubscriptions(SimpSubscriptionMatcher matcher) {
		Set<SimpSubscription> found = new HashSet<>();
		for (SimpUser user : getUsers()) {
			for (SimpSession session : user.getSessions()) {
				for (SimpSubscription subscription : session.getSubscriptions()) {
					if (matcher.match(subscription)) {
						found.add(subscription);
					}
				}
			}
		}
		return found;
	}

	private <T> T await(Supplier<CompletableFuture<T>> read, T fallback) {
		try {
			return read.get().get(this.timeout.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
			return fallback;
		}
		catch (ExecutionException | TimeoutException ex) {
			logger.debug("Cluster presence unreadable, answering with this node's sessions: {}",
					ex.getClass().getSimpleName());
			return fallback;
		}
	}

	private SimpUser user(String name, List<ClusterSession> sessions) {
		SimpUser localUser = this.local.getUser(name);
		return new ClusterSimpUser(name, (localUser != null) ? localUser.getPrincipal() : null, sessions);
	}

	@Override
	public boolean supportsEventType(Class<? extends ApplicationEvent> eventType) {
		return (this.local instanceof SmartApplicationListener listener) && listener.supportsEventType(eventType);
	}

	@Override
	public boolean supportsSourceType(@Nullable Class<?> sourceType) {
		return (this.local instanceof SmartApplicationListener listener) && listener.supportsSourceType(sourceType);
	}

	@Override
	public void onApplicationEvent(ApplicationEvent event) {
		if (this.local instanceof SmartApplicationListener listener) {
			listener.onApplicationEvent(event);
		}
	}

	@Override
	public int getOrder() {
		return (this.local instanceof SmartApplicationListener listener) ? listener.getOrder() : LOWEST_PRECEDENCE;
	}

	@Override
	public String toString() {
		return "ClusterUserRegistry[local=" + this.local + "]";
	}

	/** A user as the cluster presence lists it; immutable. */
	private static final class ClusterSimpUser implements SimpUser {

		private final String name;

		private final @Nullable Principal principal;

		private final Map<String, SimpSession> sessions = new LinkedHashMap<>();

		ClusterSimpUser(String name, @Nullable Principal principal, List<ClusterSession> sessions) {
			this.name = name;
			this.principal = principal;
			sessions.forEach(session -> this.sessions.put(session.id(), new ClusterSimpSession(this, session)));
		}

		@Override
		public String getName() {
			return this.name;
		}

		@Override
		public @Nullable Principal getPrincipal() {
			return this.principal;
		}

		@Override
		public boolean hasSessions() {
			return !this.sessions.isEmpty();
		}

		@Override
		public @Nullable SimpSession getSession(String sessionId) {
			return this.sessions.get(sessionId);
		}

		@Override
		public Set<SimpSession> getSessions() {
			return new LinkedHashSet<>(this.sessions.values());
		}

		@Override
		public String toString() {
			return "SimpUser[name=" + this.name + ", sessions=" + this.sessions.size() + "]";
		}

	}

	private static final class ClusterSimpSession implements SimpSession {

		private final SimpUser user;

		private final ClusterSession session;

		private final Set<SimpSubscription> subscriptions = new LinkedHashSet<>();

		ClusterSimpSession(SimpUser user, ClusterSession session) {
			this.user = user;
			this.session = session;
			for (String destination : session.subscriptions()) {
				this.subscriptions.add(new ClusterSimpSubscription(this, destination));
			}
		}

		@Override
		public String getId() {
			return this.session.id();
		}

		@Override
		public SimpUser getUser() {
			return this.user;
		}

		@Override
		public Set<SimpSubscription> getSubscriptions() {
			return this.subscriptions;
		}

		/** @return the node that holds the session */
		String node() {
			return this.session.node();
		}

		@Override
		public String toString() {
			return "SimpSession[id=" + getId() + ", node=" + node() + "]";
		}

	}

	/**
	 * A subscription as the presence lists it: its id is its destination (the presence keeps
	 * destinations, not the clients' subscription ids).
	 */
	private record ClusterSimpSubscription(SimpSession session, String destination) implements SimpSubscription {

		@Override
		public String getId() {
			return this.destination;
		}

		@Override
		public SimpSession getSession() {
			return this.session;
		}

		@Override
		public String getDestination() {
			return this.destination;
		}

	}

}
