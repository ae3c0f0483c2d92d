package io.stomprelay.session;

import java.time.Instant;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One STOMP session of this node, from its admitted CONNECT until its end
 * ({@link LocalSessionRegistry}). Who it is, since when and until when are fixed at the CONNECT;
 * the rest changes as its frames go by, each part written by one feature:
 * <ul>
 * <li>{@link #inboundRate()} and the subscription requests: the limits, on the thread that read
 * each frame, in the order the client sent them;</li>
 * <li>{@link #subscriptions()} and {@link #isConnected()}: the relay's channel interest, in the
 * session's frame order just before the broker handles each frame;</li>
 * <li>the expiry task: the token expiry;</li>
 * <li>{@link #waitingDeliveries()}: the messages the broker has handed to the session that still
 * wait in Spring's ordered queue for it, counted up by the broker's thread and down as the queue
 * releases them (see {@code io.stomprelay.connection.WaitingDeliveries}).</li>
 * </ul>
 * Every method is safe to call from any thread.
 */
public final class LocalSession {

	/** Whether a session's CONNECT carried a token; the {@code kind} tag of {@code stomp.relay.sessions}. */
	public enum Kind {

		AUTHENTICATED("authenticated"), ANONYMOUS("anonymous");

		private final String tag;

		Kind(String tag) {
			this.tag = tag;
		}

		/** @return the metric tag value */
		public String tag() {
			return this.tag;
		}

	}

	private final String id;

	private final String user;

	private final Instant connectedAt;

	private final Instant tokenExpiresAt;

	private final TokenBucket inboundRate;

	private final Set<String> subscriptionRequests = new HashSet<>();

	private final Map<String, String> subscriptions = new LinkedHashMap<>();

	private final AtomicReference<ScheduledFuture<?>> expiry = new AtomicReference<>();

	private final AtomicBoolean connected = new AtomicBoolean();

	private final AtomicBoolean closed = new AtomicBoolean();

	private final AtomicInteger waitingDeliveries = new AtomicInteger();

	private volatile boolean refused;

	private volatile boolean ended;

	LocalSession(String id, String user, Instant connectedAt, Instant tokenExpiresAt, TokenBucket inboundRate) {
		this.id = id;
		this.user = user;
		this.connectedAt = connectedAt;
		this.tokenExpiresAt = tokenExpiresAt;
		this.inboundRate = inboundRate;
	}

	/** Counts deliveries the broker has handed to this session, queued for it. */
	public void deliveriesQueued(int count) {
		this.waitingDeliveries.addAndGet(count);
	}

	/** Counts one of them off: the queue has released it towards the session's connection. */
	public void deliveryDequeued() {
		this.waitingDeliveries.decrementAndGet();
	}

	/** @return the deliveries handed to this session that are still queued for it */
	public int waitingDeliveries() {
		return this.waitingDeliveries.get();
	}

	/** @return the STOMP (WebSocket) session id */
	public String id() {
		return this.id;
	}

	/** @return the user the session authenticated as, {@code null} when it is anonymous */
	public String user() {
		return this.user;
	}

	public Kind kind() {
		return (this.user != null) ? Kind.AUTHENTICATED : Kind.ANONYMOUS;
	}

	/** @return when its CONNECT was admitted */
	public Instant connectedAt() {
		return this.connectedAt;
	}

	/**
	 * @return when the session's token expires, {@code null} when it is anonymous or its token has
	 * no {@code exp}
	 */
	public Instant tokenExpiresAt() {
		return this.tokenExpiresAt;
	}

	/** @return how many frames the session may still send now, and how fast that refills */
	public TokenBucket inboundRate() {
		return this.inboundRate;
	}

	/**
	 * @return whether the session is still open: its connection has not closed and it has not
	 * ended
	 */
	public boolean isOpen() {
		return !this.closed.get() && !this.ended;
	}

	/**
	 * Notes a SUBSCRIBE as the client sent it, before it is authorized or handled: what the
	 * subscription limits count.
	 * @return {@code false} if the client already holds a subscription with that id
	 */
	public synchronized boolean requestSubscription(String subscriptionId) {
		return this.subscriptionRequests.add(subscriptionId);
	}

	/** Notes an UNSUBSCRIBE as the client sent it. */
	public synchronized void requestUnsubscription(String subscriptionId) {
		this.subscriptionRequests.remove(subscriptionId);
	}

	/** @return how many subscription ids the client holds by its own frames so far */
	public synchronized int subscriptionRequests() {
		return this.subscriptionRequests.size();
	}

	/**
	 * Records a subscription as the broker takes it, in the session's frame order.
	 * @return the destination the subscription id stood for until now, {@code null} if none
	 */
	public synchronized String subscribe(String subscriptionId, String destination) {
		return this.subscriptions.put(subscriptionId, destination);
	}

	/**
	 * Removes a subscription as the broker drops it, in the session's frame order.
	 * @return the destination it stood for, {@code null} if the id was not subscribed
	 */
	public synchronized String unsubscribe(String subscriptionId) {
		return this.subscriptions.remove(subscriptionId);
	}

	/**
	 * @return the session's subscriptions as the broker has them, subscription id to destination
	 * (as the client named it, e.g. {@code /user/queue/events}), in subscription order; a copy
	 */
	public synchronized Map<String, String> subscriptions() {
		return Collections.unmodifiableMap(new LinkedHashMap<>(this.subscriptions));
	}

	/**
	 * @return the distinct destinations the session subscribes to, in subscription order; a copy
	 */
	public synchronized List<String> destinations() {
		return List.copyOf(new LinkedHashSet<>(this.subscriptions.values()));
	}

	/**
	 * Marks the session's CONNECT as handled by the broker.
	 * @return {@code true} the first time only
	 */
	public boolean markConnected() {
		return !this.refused && this.connected.compareAndSet(false, true);
	}

	/**
	 * Marks the session's CONNECT as refused after all (the cluster already holds the most sessions
	 * its user may have): the broker never handles it, and the session is closed.
	 */
	public void refuse() {
		this.refused = true;
	}

	/** @return whether the broker has handled (or is about to handle) the session's CONNECT */
	public boolean isConnected() {
		return this.connected.get() && !this.refused;
	}

	/** Sets the task that ends the session when its token expires, cancelling an earlier one. */
	public void expireWith(ScheduledFuture<?> task) {
		ScheduledFuture<?> previous = this.expiry.getAndSet(task);
		if (previous != null) {
			previous.cancel(false);
		}
	}

	/** Cancels the expiry task, if one is still pending. */
	public void cancelExpiry() {
		ScheduledFuture<?> task = this.expiry.getAndSet(null);
		if (task != null) {
			task.cancel(false);
		}
	}

	/** @return whether a task will end the session when its token expires */
	public boolean hasExpiry() {
		return this.expiry.get() != null;
	}

	/** @return {@code true} the first time only, and only while the session has not ended */
	boolean markClosed() {
		return !this.ended && this.closed.compareAndSet(false, true);
	}

	void markEnded() {
		this.ended = true;
	}

	@Override
	public String toString() {
		return "LocalSession[" + this.id + ", " + kind().tag() + "]";
	}

}
