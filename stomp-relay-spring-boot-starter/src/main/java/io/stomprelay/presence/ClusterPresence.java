package io.stomprelay.presence;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.session.ConnectAdmission;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.SmartLifecycle;
import org.springframework.core.task.TaskRejectedException;
import org.springframework.scheduling.TaskScheduler;

/**
 * Keeps this node's part of the cluster presence in Redis ({@link PresenceStore}) in step with
 * its sessions:
 * <ul>
 * <li>as the {@link ConnectAdmission}, it lists a session when the broker is about to accept its
 * CONNECT, refusing it when the user already holds {@code maxSessionsPerUser} sessions on all
 * nodes together (one atomic step in Redis, so two CONNECTs on two nodes cannot both take the last
 * place). While Redis is away it admits on the node's own count;</li>
 * <li>as a {@link LocalSessionRegistry.Listener}, it rewrites a session's record when its
 * subscriptions change and removes it when the session ends, in the session's frame order;</li>
 * <li>every quarter of the node TTL it renews this instance's deadline and sweeps away instances
 * past theirs (nodes that died without stopping). After a failed write, a reconnect to Redis, or
 * when this instance had lapsed (a pause longer than the TTL), it writes all its live sessions
 * again (a <i>resync</i>), so a restarted Redis holds every live session again within moments;</li>
 * <li>stopping gracefully, it removes this instance and its sessions at once.</li>
 * </ul>
 * Writes never block: they complete on Redis's I/O thread, and failures are counted
 * ({@code stomp_relay_presence_writes_total{result="failed"}}), logged once per outage, and
 * repaired by the next resync.
 */
public class ClusterPresence implements ConnectAdmission, LocalSessionRegistry.Listener, SmartLifecycle {

	private static final Logger logger = LoggerFactory.getLogger(ClusterPresence.class);

	private static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(2);

	private final PresenceStore store;

	private final LocalSessionRegistry sessions;

	private final TaskScheduler scheduler;

	private final Duration heartbeatInterval;

	private final int maxSessionsPerUser;

	private final String nodeId;

	private final Counter writesOk;

	private final Counter writesFailed;

	private final Counter resyncs;

	private final AtomicBoolean resyncNeeded = new AtomicBoolean(true);

	private final AtomicBoolean beating = new AtomicBoolean();

	private volatile boolean running;

	private volatile boolean failing;

	private volatile Set<String> dead = Set.of();

	private volatile Instant lastHeartbeat;

	private volatile ScheduledFuture<?> heartbeats;

	/**
	 * @param nodeTtl how long this instance counts as alive after a heartbeat; it beats every quarter
	 * @param maxSessionsPerUser the most sessions one user may hold on all nodes together
	 */
	public ClusterPresence(String nodeId, PresenceStore store, LocalSessionRegistry sessions, TaskScheduler scheduler,
			Duration nodeTtl, int maxSessionsPerUser, MeterRegistry registry) {
		this.nodeId = nodeId;
		this.store = store;
		this.sessions = sessions;
		this.scheduler = scheduler;
		this.heartbeatInterval = nodeTtl.dividedBy(4);
		this.maxSessionsPerUser = maxSessionsPerUser;
		this.writesOk = writes(registry, "ok");
		this.writesFailed = writes(registry, "failed");
		this.resyncs = Counter.builder("stomp.relay.presence.resyncs")
			.description("Times this node wrote all its sessions to the cluster presence again")
			.register(registry);
	}

	private static Counter writes(MeterRegistry registry, String result) {
		return Counter.builder("stomp.relay.presence.writes")
			.description("Writes of this node's sessions to the cluster presence in Redis")
			.tag("result", result)
			.register(registry);
	}

	/**
	 * Lists the session. Only a user's session under a per-user limit waits for Redis's answer; an
	 * anonymous session, or any session while the limits are off, is admitted at once and listed
	 * behind it (its later writes follow on the same connection, so they cannot overtake it), so its
	 * {@code CONNECTED} does not wait for a Redis round trip.
	 */
	@Override
	public CompletableFuture<Boolean> admit(LocalSession session) {
		if (!this.running) {
			return CompletableFuture.completedFuture(true);
		}
		CompletableFuture<Boolean> admitted = this.store.admit(session, this.maxSessionsPerUser, this.dead)
			.handle((admit, failure) -> {
				written(failure);
				return (failure != null) || admit;
			});
		boolean limited = session.user() != null && this.maxSessionsPerUser < Integer.MAX_VALUE;
		return limited ? admitted : CompletableFuture.completedFuture(true);
	}

	@Override
	public void subscriptionsChanged(LocalSession session) {
		if (this.running && session.user() != null && session.isConnected() && session.isOpen()) {
			this.store.update(session).whenComplete((done, failure) -> written(failure));
		}
	}

	@Override
	public void ended(LocalSession session) {
		if (this.running && session.isConnected()) {
			this.store.remove(session).whenComplete((done, failure) -> written(failure));
		}
	}

	private void written(Throwable failure) {
		if (failure == null) {
			this.writesOk.increment();
			return;
		}
		this.writesFailed.increment();
		this.resyncNeeded.set(true);
		if (!this.failing) {
			this.failing = true;
			logger.warn("Node {}: cluster presence write failed ({}); this node's sessions are written again "
					+ "once Redis answers", this.nodeId, rootName(failure));
		}
	}

	/**
	 * Redis is reachable again: write every live session again without waiting for the next beat.
	 * Called on a Lettuce event loop, so it never throws: a scheduler that has already stopped means
	 * the node is going away, and the next start writes everything anyway.
	 */
	public void reconnected() {
		this.resyncNeeded.set(true);
		if (!this.running) {
			return;
		}
		try {
			this.scheduler.schedule(this::beat, Instant.now());
		}
		catch (TaskRejectedException ex) {
			logger.debug("Node {}: not resyncing the cluster presence, the node is stopping", this.nodeId);
		}
	}

	/**
	 * Renews this instance, sweeps dead ones, and resyncs when needed. One beat at a time; a beat
	 * never waits on Redis, it chains on the replies.
	 */
	void beat() {
		if (!this.running || !this.beating.compareAndSet(false, true)) {
			return;
		}
		this.store.heartbeat().thenCompose(instances -> {
			this.dead = instances.dead();
			this.lastHeartbeat = Instant.now();
			boolean resync = this.resyncNeeded.getAndSet(false) || instances.lapsed();
			CompletableFuture<Void> work = resync ? resync() : CompletableFuture.completedFuture(null);
			for (String gone : instances.dead()) {
				if (!gone.equals(this.store.instance())) {
					logger.info("Node {}: node instance {} missed its heartbeat; removing its sessions from the "
							+ "cluster presence", this.nodeId, gone);
					work = work.thenCompose(done -> this.store.sweep(gone));
				}
			}
			return work;
		}).whenComplete((done, failure) -> {
			this.beating.set(false);
			if (failure != null) {
				this.resyncNeeded.set(true);
				if (!this.failing) {
					this.failing = true;
					logger.warn("Node {}: cluster presence heartbeat failed ({}); retrying", this.nodeId,
							rootName(failure));
				}
			}
			else if (this.failing) {
				this.failing = false;
				logger.info("Node {}: cluster presence back in step with Redis", this.nodeId);
			}
		});
	}

	private CompletableFuture<Void> resync() {
		List<LocalSession> live = this.sessions.all()
			.stream()
			.filter(session -> session.isConnected() && session.isOpen())
			.toList();
		this.resyncs.increment();
		logger.info("Node {}: writing its {} sessions to the cluster presence", this.nodeId, live.size());
		return this.store.resync(live).whenComplete((done, failure) -> {
			if (failure != null) {
				this.resyncNeeded.set(true);
			}
		});
	}

	/** @return when the last heartbeat was answered, {@code null} before the first */
	public Instant lastHeartbeat() {
		return this.lastHeartbeat;
	}

	/** @return whether the last writes or heartbeat failed (Redis away) */
	public boolean isFailing() {
		return this.failing;
	}

	/** @return this node process's instance name in the presence */
	public String instance() {
		return this.store.instance();
	}

	@Override
	public void start() {
		this.running = true;
		this.heartbeats = this.scheduler.scheduleAtFixedRate(this::beat, Instant.now(), this.heartbeatInterval);
	}

	/** Removes this instance and its sessions from Redis, waiting a moment for it (a graceful stop). */
	@Override
	public void stop() {
		this.running = false;
		ScheduledFuture<?> beats = this.heartbeats;
		if (beats != null) {
			beats.cancel(false);
		}
		try {
			this.store.leave().get(LEAVE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
			logger.info("Node {}: left the cluster presence", this.nodeId);
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
		catch (Exception ex) {
			logger.warn("Node {}: could not leave the cluster presence ({}); other nodes drop its sessions once its "
					+ "heartbeat lapses", this.nodeId, rootName(ex));
		}
	}

	@Override
	public boolean isRunning() {
		return this.running;
	}

	private static String rootName(Throwable failure) {
		Throwable cause = failure;
		while (cause.getCause() != null && cause.getCause() != cause) {
			cause = cause.getCause();
		}
		return cause.getClass().getSimpleName();
	}

}
