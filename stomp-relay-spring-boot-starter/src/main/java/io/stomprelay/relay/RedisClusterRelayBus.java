package io.stomprelay.relay;

import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.event.ClusterTopologyChangedEvent;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.cluster.pubsub.StatefulRedisClusterPubSubConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.netty.util.concurrent.EventExecutorGroup;
import io.stomprelay.system.StartupCheckException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;

/**
 * {@link RelayBus} on a Redis Cluster with Redis 7 sharded pub/sub: a message is published with
 * {@code SPUBLISH} and a channel is subscribed with {@code SSUBSCRIBE} on the master that owns the
 * channel's slot, so Redis's fan-out work spreads over the shards. No classic {@code PUBLISH} is
 * ever sent (in a cluster it is copied to every node). Commands are asynchronous; while a shard is
 * unreachable they fail at once instead of queueing, so a publish never blocks a client thread.
 * <p><b>Where each channel is subscribed</b> is this bus's own record, not Lettuce's: a channel is
 * assigned to the master that owns its slot before its {@code SSUBSCRIBE} is sent, and a message is
 * handed on only when it arrives on that master's connection. A subscription left on a node that no
 * longer owns the slot (a demoted master that kept it, a node Lettuce re-subscribed after a restart)
 * therefore never delivers a message twice.
 * <p><b>Topology changes</b> (a replica promoted after a failover, a slot moved, a shard restarted)
 * are found three ways, none of which trusts a healthy-looking TCP connection: Lettuce's topology
 * refresh (periodic and adaptive, configured by the caller) raises an event; a shard pushes
 * {@code sunsubscribe} for channels whose slot it lost; and an audit every second compares each
 * channel the node needs with the master that owns its slot now. Each leads to the same
 * reconciliation: every needed channel not confirmed on its slot's current master is subscribed
 * there (the ones first asked for while a shard was away included), and every released channel
 * whose {@code SUNSUBSCRIBE} was not confirmed is unsubscribed again. Messages published while a
 * channel had no working subscription are counted by the receiving node ({@link ReceiveGaps}) or,
 * when the publish itself failed, by the publishing node.
 * <p><b>Half-open connections</b> to any shard are found by TCP keep-alive and by the same PING
 * watchdog as the standalone bus ({@link PingWatchdog}), on the publish connection of every master
 * and on every shard subscriber connection.
 * <p>{@link #isConnected()} is true while the publish connection is open and every master's shard
 * subscriber this node uses is connected (or being connected for the first time).
 */
public class RedisClusterRelayBus implements RedisBackedRelayBus {

	private static final Logger logger = LoggerFactory.getLogger(RedisClusterRelayBus.class);

	private static final Duration AUDIT_INTERVAL = Duration.ofSeconds(1);

	private static final Duration RECONCILE_SOON = Duration.ofMillis(20);

	private static final Duration RECONCILE_RETRY = Duration.ofMillis(250);

	/** Least time between two topology refreshes this bus asks for (Lettuce's own come on top). */
	private static final long REFRESH_SPACING_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

	private final RedisClusterClient client;

	private final StatefulRedisClusterConnection<byte[], byte[]> publisher;

	/** Hands out one pub/sub connection per shard node (Lettuce re-subscribes each after a reconnect). */
	private final StatefulRedisClusterPubSubConnection<byte[], byte[]> subscriber;

	private final String nodeId;

	private final Listener listener;

	private final boolean ownsResources;

	private final EventExecutorGroup timers;

	private final PingWatchdog watchdog;

	private volatile Supplier<Collection<String>> wantedChannels = List::of;

	/** Channels the bus holds for itself (the node id claim), needed whatever the sessions need. */
	private final Set<String> pinned = ConcurrentHashMap.newKeySet();

	/** Where each channel the node holds is subscribed, assigned before its SSUBSCRIBE is sent. */
	private final ConcurrentHashMap<String, Subscription> subscriptions = new ConcurrentHashMap<>();

	/** Channels released whose SUNSUBSCRIBE the shard has not confirmed, with the shard. */
	private final ConcurrentHashMap<String, String> unconfirmedReleases = new ConcurrentHashMap<>();

	/** The pub/sub connection of each shard node used so far, by {@code host:port}. */
	private final ConcurrentHashMap<String, Shard> shards = new ConcurrentHashMap<>();

	/** PINGs left unanswered in a row by the publish connection of each master, by {@code host:port}. */
	private final ConcurrentHashMap<String, AtomicInteger> publisherUnanswered = new ConcurrentHashMap<>();

	private final AtomicBoolean reconcileScheduled = new AtomicBoolean();

	private final AtomicLong lastRefresh = new AtomicLong(System.nanoTime() - REFRESH_SPACING_NANOS);

	/** Messages that arrived on a node the channel is not assigned to (and were not delivered). */
	private final LongAdder strays = new LongAdder();

	/** Subscriptions ended by a shard ({@code sunsubscribe} pushed) or moved to another master. */
	private final LongAdder resubscriptions = new LongAdder();

	private final Disposable topologyEvents;

	private volatile ScheduledFuture<?> audits;

	private volatile ScheduledFuture<?> pings;

	private volatile boolean closing;

	/**
	 * Connects to the cluster, or fails the node's start with a clear message.
	 * @param client a cluster client whose options reject commands while disconnected and refresh
	 * the topology
	 * @param location where the cluster is, for messages
	 * @param nodeId this node, for log lines
	 * @param listener receives messages on subscribed channels
	 * @param ownsResources whether the client's resources were made for the relay alone (shut down
	 * with it) rather than shared with the application
	 */
	public RedisClusterRelayBus(RedisClusterClient client, String location, String nodeId, Listener listener,
			boolean ownsResources) {
		this.client = client;
		this.nodeId = nodeId;
		this.listener = listener;
		this.ownsResources = ownsResources;
		this.timers = client.getResources().eventExecutorGroup();
		this.watchdog = new PingWatchdog(nodeId, () -> this.closing);
		try {
			this.publisher = client.connect(ByteArrayCodec.INSTANCE);
			this.subscriber = client.connectPubSub(ByteArrayCodec.INSTANCE);
		}
		catch (RedisConnectionException ex) {
			ClientResources resources = client.getResources();
			client.shutdown();
			if (ownsResources) {
				resources.shutdown();
			}
			throw new StartupCheckException("cannot connect to the Redis Cluster at " + location + ".",
					"Start the cluster or point the node at its nodes with spring.data.redis.cluster.nodes "
							+ "(env SPRING_DATA_REDIS_CLUSTER_NODES).", ex);
		}
		this.topologyEvents = client.getResources().eventBus().get().subscribe(event -> {
			if (event instanceof ClusterTopologyChangedEvent) {
				scheduleReconcile(RECONCILE_SOON);
			}
		});
		this.audits = this.timers.scheduleWithFixedDelay(this::reconcile, AUDIT_INTERVAL.toMillis(),
				AUDIT_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
		logger.info("Node {}: relay connected to the Redis Cluster at {} ({} masters), sharded pub/sub", nodeId,
				location, masters().size());
	}

	@Override
	public void setWantedChannels(Supplier<Collection<String>> channels) {
		this.wantedChannels = channels;
	}

	@Override
	public CompletableFuture<Long> publish(String channel, byte[] message) {
		try {
			return this.publisher.async().spublish(bytes(channel), message).toCompletableFuture();
		}
		catch (RuntimeException ex) {
			return CompletableFuture.failedFuture(ex);
		}
	}

	@Override
	public CompletableFuture<List<Object>> evalOnPublisher(LuaScript script, byte[][] keys, byte[]... args) {
		// with the text every time: Lettuce's cluster connection sends each command as it comes, so a
		// call sent again after NOSCRIPT could run after a later call of the same destination
		try {
			return this.publisher.async()
				.<List<Object>>eval(script.text(), ScriptOutputType.MULTI, keys, args)
				.toCompletableFuture();
		}
		catch (RuntimeException ex) {
			return CompletableFuture.failedFuture(ex);
		}
	}

	@Override
	public String publishCommand() {
		return "SPUBLISH";
	}

	/**
	 * Subscribes on the master that owns the channel's slot; completes once that master confirmed.
	 */
	@Override
	public CompletableFuture<Void> subscribe(String channel) {
		this.unconfirmedReleases.remove(channel);
		RedisClusterNode master = this.client.getPartitions().getMasterBySlot(SlotHash.getSlot(channel));
		if (master == null) {
			scheduleReconcile(RECONCILE_RETRY);
			return CompletableFuture.failedFuture(new IllegalStateException("no master serves the channel's slot"));
		}
		Subscription subscription = new Subscription(key(master));
		this.subscriptions.put(channel, subscription);
		return send(channel, subscription, master);
	}

	@Override
	public void unsubscribe(String channel) {
		Subscription subscription = this.subscriptions.remove(channel);
		if (subscription == null) {
			return;
		}
		this.unconfirmedReleases.put(channel, subscription.node);
		sunsubscribe(subscription.node, channel)
			.thenRun(() -> this.unconfirmedReleases.remove(channel, subscription.node));
	}

	/** Pins the node's own channel (re-subscribed like the others after a topology change) first. */
	@Override
	public void claimNodeId(String nodeId, String nodeChannel, Duration timeout) {
		this.pinned.add(nodeChannel);
		RedisBackedRelayBus.super.claimNodeId(nodeId, nodeChannel, timeout);
	}

	/** {@code PUBSUB SHARDNUMSUB} on the master that owns the channel's slot. */
	@Override
	public CompletableFuture<Long> subscriberCount(String channel) {
		return this.publisher.async()
			.pubsubShardNumsub(bytes(channel))
			.thenApply(counts -> counts.values().stream().findFirst().orElse(0L))
			.toCompletableFuture();
	}

	@Override
	public void startPings(Duration interval) {
		this.pings = this.timers.scheduleAtFixedRate(this::ping, interval.toMillis(), interval.toMillis(),
				TimeUnit.MILLISECONDS);
	}

	private void ping() {
		try {
			pingAll();
		}
		catch (RuntimeException ex) {
			logger.debug("PING round failed: {}", ex.getClass().getSimpleName());
		}
	}

	private void pingAll() {
		for (RedisClusterNode master : masters()) {
			String key = key(master);
			this.publisher.getConnectionAsync(master.getUri().getHost(), master.getUri().getPort())
				.thenAccept(connection -> this.watchdog.ping(connection,
						this.publisherUnanswered.computeIfAbsent(key, k -> new AtomicInteger()),
						() -> connection.async().ping().toCompletableFuture()));
		}
		for (Shard shard : this.shards.values()) {
			shard.connection.thenAccept(connection -> this.watchdog.ping(connection, shard.unanswered,
					() -> connection.async().ping().toCompletableFuture()));
		}
	}

	@Override
	public boolean isConnected() {
		if (!this.publisher.isOpen()) {
			return false;
		}
		for (RedisClusterNode master : masters()) {
			Shard shard = this.shards.get(key(master));
			if (shard != null && !shard.isOpen()) {
				return false;
			}
		}
		return true;
	}

	/**
	 * Makes the subscriptions match what the node needs on the topology Lettuce knows now: every
	 * needed channel is subscribed on the master of its slot, every release left unconfirmed is sent
	 * again. Sends commands only; never waits for them.
	 */
	synchronized void reconcile() {
		this.reconcileScheduled.set(false);
		if (this.closing) {
			return;
		}
		try {
			reconcileNow();
		}
		catch (RuntimeException ex) {
			// the audit must keep running: a scheduled task that throws is never run again
			logger.warn("Node {}: re-subscribing relay channels failed ({}); trying again", this.nodeId,
					ex.getClass().getSimpleName());
			scheduleReconcile(RECONCILE_RETRY);
		}
	}

	private void reconcileNow() {
		Set<String> wanted = new HashSet<>(this.wantedChannels.get());
		wanted.addAll(this.pinned);
		int moved = 0;
		int sent = 0;
		for (String channel : wanted) {
			RedisClusterNode master = this.client.getPartitions().getMasterBySlot(SlotHash.getSlot(channel));
			if (master == null) {
				continue;
			}
			String node = key(master);
			Subscription current = this.subscriptions.get(channel);
			if (current != null && current.node.equals(node) && !current.needsSending()) {
				continue;
			}
			if (current != null && !current.node.equals(node)) {
				moved++;
				sunsubscribe(current.node, channel);
			}
			Subscription subscription = new Subscription(node);
			boolean assigned = (current != null) ? this.subscriptions.replace(channel, current, subscription)
					: this.subscriptions.putIfAbsent(channel, subscription) == null;
			if (assigned) {
				sent++;
				send(channel, subscription, master);
			}
		}
		for (Map.Entry<String, String> release : this.unconfirmedReleases.entrySet()) {
			if (!wanted.contains(release.getKey()) && !this.subscriptions.containsKey(release.getKey())) {
				String channel = release.getKey();
				String node = release.getValue();
				sunsubscribe(node, channel).thenRun(() -> this.unconfirmedReleases.remove(channel, node));
			}
		}
		if (moved > 0) {
			this.resubscriptions.add(moved);
			logger.info("Node {}: {} relay channels now belong to another Redis master; subscribing them there",
					this.nodeId, moved);
		}
		else if (sent > 0) {
			logger.debug("Node {}: subscribing {} relay channels again", this.nodeId, sent);
		}
	}

	private CompletableFuture<Void> send(String channel, Subscription subscription, RedisClusterNode master) {
		CompletableFuture<StatefulRedisPubSubConnection<byte[], byte[]>> shard;
		try {
			shard = shard(master).connection;
		}
		catch (RuntimeException ex) {
			shard = CompletableFuture.failedFuture(ex);
		}
		return shard.thenCompose(connection -> connection.async().ssubscribe(bytes(channel)).toCompletableFuture())
			.whenComplete((done, failure) -> {
				if (failure == null) {
					subscription.confirm();
					return;
				}
				subscription.fail();
				if (!this.closing) {
					String reason = String.valueOf(unwrap(failure).getMessage());
					if (reason.startsWith("MOVED") || reason.startsWith("CLUSTERDOWN")) {
						refreshTopology();
					}
					scheduleReconcile(RECONCILE_RETRY);
				}
			});
	}

	private CompletableFuture<Void> sunsubscribe(String node, String channel) {
		Shard shard = this.shards.get(node);
		if (shard == null) {
			return CompletableFuture.completedFuture(null);
		}
		return shard.connection
			.thenCompose(connection -> connection.async().sunsubscribe(bytes(channel)).toCompletableFuture())
			.exceptionally(failure -> {
				logger.debug("Sunsubscribe failed: {}", unwrap(failure).getClass().getSimpleName());
				throw new CompletionException(failure);
			});
	}

	/**
	 * The pub/sub connection to a master, made (and listened to) on first use, and made again when
	 * it could not be made or Lettuce closed it for good. Made inside the map's compute so that no
	 * connection ever gets the bus's listener twice.
	 */
	private Shard shard(RedisClusterNode master) {
		String node = key(master);
		Shard shard = this.shards.get(node);
		if (shard != null && !shard.isClosedForGood()) {
			return shard;
		}
		return this.shards.compute(node, (key, existing) -> (existing != null && !existing.isClosedForGood()) ? existing
				: new Shard(this.subscriber.getConnectionAsync(master.getUri().getHost(), master.getUri().getPort())
					.thenApply(connection -> listen(node, connection))));
	}

	private StatefulRedisPubSubConnection<byte[], byte[]> listen(String node,
			StatefulRedisPubSubConnection<byte[], byte[]> connection) {
		connection.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void smessage(byte[] channel, byte[] message) {
				onMessage(node, new String(channel, StandardCharsets.UTF_8), message);
			}

			@Override
			public void sunsubscribed(byte[] channel, long count) {
				onSunsubscribed(node, new String(channel, StandardCharsets.UTF_8));
			}
		});
		connection.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> handler, SocketAddress address) {
				logger.info("Node {}: relay subscriber reconnected to Redis {}", RedisClusterRelayBus.this.nodeId, node);
				// Lettuce re-subscribes what it last saw confirmed; the bus sends its own set again
				RedisClusterRelayBus.this.subscriptions.values()
					.stream()
					.filter(subscription -> subscription.node.equals(node))
					.forEach(Subscription::fail);
				scheduleReconcile(RECONCILE_SOON);
			}

			@Override
			public void onRedisDisconnected(RedisChannelHandler<?, ?> handler) {
				if (!RedisClusterRelayBus.this.closing) {
					logger.warn("Node {}: relay subscriber lost Redis {}; its channels wait for it or for a failover",
							RedisClusterRelayBus.this.nodeId, node);
					refreshTopology();
				}
			}
		});
		return connection;
	}

	/** On the Redis I/O thread: delivers only what arrives on the node the channel is assigned to. */
	private void onMessage(String node, String channel, byte[] message) {
		Subscription subscription = this.subscriptions.get(channel);
		if (subscription != null && subscription.node.equals(node)) {
			this.listener.onMessage(channel, message);
		}
		else {
			this.strays.increment();
		}
	}

	/**
	 * A shard confirmed a release, or ended a subscription by itself because it no longer owns the
	 * channel's slot (a slot moved away, the master was demoted).
	 */
	private void onSunsubscribed(String node, String channel) {
		this.unconfirmedReleases.remove(channel, node);
		Subscription subscription = this.subscriptions.get(channel);
		if (subscription != null && subscription.node.equals(node) && subscription.isConfirmed()) {
			subscription.fail();
			logger.debug("Node {}: Redis {} ended the subscription to a relay channel", this.nodeId, node);
			refreshTopology();
			scheduleReconcile(RECONCILE_SOON);
		}
	}

	/** Asks Lettuce for a fresh topology, at most every half second. */
	private void refreshTopology() {
		long last = this.lastRefresh.get();
		long now = System.nanoTime();
		if (now - last >= REFRESH_SPACING_NANOS && this.lastRefresh.compareAndSet(last, now) && !this.closing) {
			this.client.refreshPartitionsAsync().whenComplete((done, failure) -> scheduleReconcile(RECONCILE_SOON));
		}
	}

	private void scheduleReconcile(Duration delay) {
		if (this.closing || !this.reconcileScheduled.compareAndSet(false, true)) {
			return;
		}
		try {
			this.timers.schedule(this::reconcile, delay.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (RejectedExecutionException ex) {
			logger.debug("Reconcile not scheduled: shutting down");
		}
	}

	private List<RedisClusterNode> masters() {
		return this.client.getPartitions()
			.stream()
			.filter(node -> node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.getSlots().isEmpty())
			.toList();
	}

	/** @return channels released whose SUNSUBSCRIBE was not confirmed (for tests and health) */
	public int unconfirmedReleases() {
		return this.unconfirmedReleases.size();
	}

	/** @return messages that arrived on a node their channel is not assigned to, and were dropped */
	public long strays() {
		return this.strays.sum();
	}

	/** @return subscriptions moved to another master after a topology change */
	public long resubscriptions() {
		return this.resubscriptions.sum();
	}

	/** @return for each channel this node holds, the {@code host:port} of the master it is subscribed on */
	public Map<String, String> assignments() {
		Map<String, String> assignments = new java.util.HashMap<>();
		this.subscriptions.forEach((channel, subscription) -> assignments.put(channel, subscription.node));
		return assignments;
	}

	@Override
	public void destroy() {
		this.closing = true;
		// No topology refresh may start from here on: Lettuce runs it on the shared event executor,
		// which the application's client resources shut down after this bus, and a refresh caught
		// in that shutdown fails with a stack trace in the log. Lettuce reads these options anew for
		// every periodic run and every adaptive trigger.
		if (this.client.getOptions() instanceof ClusterClientOptions options) {
			this.client.setOptions(options.mutate().topologyRefreshOptions(ClusterTopologyRefreshOptions.create()).build());
		}
		for (ScheduledFuture<?> task : new ScheduledFuture<?>[] { this.audits, this.pings }) {
			if (task != null) {
				task.cancel(false);
			}
		}
		this.topologyEvents.dispose();
		ClientResources resources = this.client.getResources();
		this.subscriber.close();
		this.publisher.close();
		this.client.shutdown();
		if (this.ownsResources) {
			resources.shutdown();
		}
	}

	private static String key(RedisClusterNode node) {
		return node.getUri().getHost() + ":" + node.getUri().getPort();
	}

	private static Throwable unwrap(Throwable failure) {
		return (failure instanceof CompletionException && failure.getCause() != null) ? failure.getCause() : failure;
	}

	private static byte[] bytes(String channel) {
		return channel.getBytes(StandardCharsets.UTF_8);
	}

	/** A channel's assignment to one master, and whether that master confirmed it. */
	private static final class Subscription {

		private static final int SENDING = 0;

		private static final int CONFIRMED = 1;

		private static final int TO_SEND = 2;

		final String node;

		private final AtomicInteger state = new AtomicInteger(SENDING);

		Subscription(String node) {
			this.node = node;
		}

		void confirm() {
			this.state.compareAndSet(SENDING, CONFIRMED);
		}

		void fail() {
			this.state.set(TO_SEND);
		}

		boolean isConfirmed() {
			return this.state.get() == CONFIRMED;
		}

		boolean needsSending() {
			return this.state.get() == TO_SEND;
		}

	}

	/** The pub/sub connection to one shard node. */
	static final class Shard {

		final CompletableFuture<StatefulRedisPubSubConnection<byte[], byte[]>> connection;

		final AtomicInteger unanswered = new AtomicInteger();

		Shard(CompletableFuture<StatefulRedisPubSubConnection<byte[], byte[]>> connection) {
			this.connection = connection;
		}

		/**
		 * @return whether the shard's subscriber is connected, or still being connected for the
		 * first time: a SUBSCRIBE then waits for its {@code SSUBSCRIBE} (bounded by the subscribe
		 * timeout) instead of going ahead as if Redis were away, which would let a resuming
		 * subscription's replay read run before the node hears the channel
		 */
		boolean isOpen() {
			if (!this.connection.isDone()) {
				return true;
			}
			if (this.connection.isCompletedExceptionally()) {
				return false;
			}
			StatefulRedisPubSubConnection<byte[], byte[]> made = this.connection.getNow(null);
			return made != null && made.isOpen();
		}

		/** Failed to connect, or closed by Lettuce (a node that left the topology): to be made again. */
		boolean isClosedForGood() {
			if (this.connection.isCompletedExceptionally()) {
				return true;
			}
			StatefulRedisPubSubConnection<byte[], byte[]> made = this.connection.getNow(null);
			return made instanceof RedisChannelHandler<?, ?> handler && handler.isClosed();
		}

	}

}
