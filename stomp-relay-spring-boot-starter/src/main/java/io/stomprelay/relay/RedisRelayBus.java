package io.stomprelay.relay;

import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

import io.netty.util.concurrent.EventExecutorGroup;

import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.StatefulRedisConnectionImpl;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.protocol.ProtocolVersion;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.stomprelay.system.StartupCheckException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link RelayBus} on Redis pub/sub with Lettuce: one connection subscribes and, on a Redis that
 * speaks RESP3 (Redis 6 and later), also publishes (through a {@link PublishPipeline}); on RESP2,
 * where a subscribed connection may send nothing but (UN)SUBSCRIBE and PING, a second connection
 * publishes. With one connection Redis answers a publish and sends its echo (this node is
 * subscribed to what it publishes) in one write, and the node reads both in one read, on one I/O
 * thread.
 * <p>Commands are asynchronous; while Redis is unreachable they fail at once instead of queueing, so
 * a publish never blocks a client thread. Losing and regaining Redis is logged once each, with the
 * node id.
 * <p><b>After a reconnect</b> the node's subscriptions are made to match what its sessions need
 * now: every needed channel is subscribed again (including channels first asked for while Redis was
 * away), and every channel whose UNSUBSCRIBE Redis never confirmed (it was released while Redis was
 * away, and Lettuce re-subscribes what it last saw confirmed) is unsubscribed, so outages leave no
 * channel behind that nobody needs.
 * <p><b>Half-open connections</b> (Redis gone without a FIN or RST: a partition, a frozen host)
 * are found by TCP keep-alive and by a PING on each connection every
 * {@code stomp-relay.redis.ping-interval}: a connection that answers none of three PINGs in a row
 * is dropped and reconnected. A Redis paused for longer than that (e.g. {@code CLIENT PAUSE}) is
 * reconnected too, which costs nothing but the reconnect.
 * <p>{@link #claimNodeId} detects a second running node with the same node id at start-up.
 * <p>{@link #isConnected()} follows Lettuce's {@code isOpen()}, which Lettuce clears when the TCP
 * connection goes inactive and sets again only once a reconnect completed its handshake (checked
 * against a killed and restarted redis-server in {@code RedisOutageIT}).
 */
public class RedisRelayBus implements RedisBackedRelayBus {

	private static final Logger logger = LoggerFactory.getLogger(RedisRelayBus.class);

	private static final Duration RECONCILE_DELAY = Duration.ofMillis(200);

	private static final Duration RECONCILE_RETRY = Duration.ofMillis(250);

	private final RedisClient client;

	/** Publishes, and runs the history script: {@link #subscriber} itself on RESP3. */
	private final StatefulRedisConnection<byte[], byte[]> publisher;

	private final StatefulRedisPubSubConnection<byte[], byte[]> subscriber;

	/** Everything that publishes, in batches that form under load. */
	private final PublishPipeline pipeline;

	private final String nodeId;

	private volatile Supplier<Collection<String>> wantedChannels = java.util.List::of;

	private volatile boolean closing;

	/** Channels released whose UNSUBSCRIBE Redis has not confirmed yet. */
	private final Set<String> unconfirmedReleases = ConcurrentHashMap.newKeySet();

	private final EventExecutorGroup timers;

	private final boolean ownsResources;

	private volatile ScheduledFuture<?> pings;

	/** PINGs in a row each connection left unanswered. */
	private final AtomicInteger publisherUnanswered = new AtomicInteger();

	private final AtomicInteger subscriberUnanswered = new AtomicInteger();

	private final PingWatchdog watchdog;

	/**
	 * Connects to Redis, or fails the node's start with a clear message.
	 * @param client a client whose options reject commands while disconnected
	 * @param location where Redis is, for messages
	 * @param nodeId this node, for log lines
	 * @param listener receives messages on subscribed channels
	 * @param ownsResources whether the client's resources were made for the relay alone (shut down
	 * with it) rather than shared with the application
	 */
	public RedisRelayBus(RedisClient client, String location, String nodeId, Listener listener, boolean ownsResources) {
		this.client = client;
		this.nodeId = nodeId;
		this.ownsResources = ownsResources;
		this.timers = client.getResources().eventExecutorGroup();
		this.watchdog = new PingWatchdog(nodeId, () -> this.closing);
		try {
			this.subscriber = client.connectPubSub(ByteArrayCodec.INSTANCE);
			this.publisher = speaksResp3(this.subscriber) ? this.subscriber : client.connect(ByteArrayCodec.INSTANCE);
		}
		catch (RedisConnectionException ex) {
			ClientResources resources = client.getResources();
			client.shutdown();
			if (ownsResources) {
				resources.shutdown();
			}
			throw new StartupCheckException("cannot connect to Redis at " + location + ".",
					"Start Redis or point the node at it with spring.data.redis.url (env SPRING_DATA_REDIS_URL) "
							+ "or spring.data.redis.host / port.", ex);
		}
		this.pipeline = new PublishPipeline(this.publisher);
		this.subscriber.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(byte[] channel, byte[] message) {
				listener.onMessage(new String(channel, StandardCharsets.UTF_8), message);
			}
		});
		if (publishesOnSecondConnection()) {
			logger.info("Node {}: Redis speaks RESP2, so the relay publishes on a second connection", nodeId);
			logStateChanges(this.subscriber, "relay subscriber", "cross-node delivery to this node paused");
			logStateChanges(this.publisher, "relay publisher", "cluster publishes are dropped until it is back");
		}
		else {
			logStateChanges(this.subscriber, "relay connection",
					"cluster publishes are dropped and cross-node delivery to this node paused until it is back");
		}
		this.subscriber.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
				scheduleReconcile(RECONCILE_DELAY);
			}
		});
		logger.info("Node {}: relay connected to Redis at {}", nodeId, location);
	}

	/** Logs a connection's losing and regaining Redis, once each, unless the bus is closing. */
	private void logStateChanges(StatefulConnection<byte[], byte[]> connection, String name, String whileLost) {
		connection.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> channel, SocketAddress address) {
				logger.info("Node {}: {} reconnected to Redis", RedisRelayBus.this.nodeId, name);
			}

			@Override
			public void onRedisDisconnected(RedisChannelHandler<?, ?> channel) {
				if (!RedisRelayBus.this.closing) {
					logger.warn("Node {}: {} lost Redis; {}", RedisRelayBus.this.nodeId, name, whileLost);
				}
			}
		});
	}

	@Override
	public void setWantedChannels(Supplier<Collection<String>> channels) {
		this.wantedChannels = channels;
	}

	@Override
	public CompletableFuture<Long> publish(String channel, byte[] message) {
		return this.pipeline.publish(bytes(channel), message);
	}

	@Override
	public CompletableFuture<List<Object>> evalOnPublisher(LuaScript script, byte[][] keys, byte[]... args) {
		return this.pipeline.eval(script, keys, args);
	}

	@Override
	public String publishCommand() {
		return "PUBLISH";
	}

	@Override
	public CompletableFuture<Void> subscribe(String channel) {
		this.unconfirmedReleases.remove(channel);
		try {
			return this.subscriber.async().subscribe(bytes(channel)).toCompletableFuture();
		}
		catch (RuntimeException ex) {
			return CompletableFuture.failedFuture(ex);
		}
	}

	@Override
	public void unsubscribe(String channel) {
		this.unconfirmedReleases.add(channel);
		try {
			this.subscriber.async().unsubscribe(bytes(channel)).thenRun(() -> this.unconfirmedReleases.remove(channel));
		}
		catch (RuntimeException ex) {
			logger.debug("Unsubscribe failed: {}", ex.getClass().getSimpleName());
		}
	}

	@Override
	public CompletableFuture<Long> subscriberCount(String channel) {
		return this.publisher.async()
			.pubsubNumsub(bytes(channel))
			.thenApply(counts -> counts.values().stream().findFirst().orElse(0L))
			.toCompletableFuture();
	}

	@Override
	public void startPings(Duration interval) {
		this.pings = this.timers.scheduleAtFixedRate(this::ping, interval.toMillis(), interval.toMillis(),
				TimeUnit.MILLISECONDS);
	}

	private void ping() {
		if (publishesOnSecondConnection()) {
			this.watchdog.ping(this.publisher, this.publisherUnanswered,
					() -> this.publisher.async().ping().toCompletableFuture());
		}
		this.watchdog.ping(this.subscriber, this.subscriberUnanswered,
				() -> this.subscriber.async().ping().toCompletableFuture());
	}

	@Override
	public boolean isConnected() {
		return this.publisher.isOpen() && this.subscriber.isOpen();
	}

	/**
	 * Runs {@link #reconcile} off the Redis I/O thread after {@code delay}: Lettuce re-subscribes its
	 * own set when the reconnected connection is activated, and an UNSUBSCRIBE must go after that.
	 */
	private void scheduleReconcile(Duration delay) {
		if (this.closing) {
			return;
		}
		try {
			this.timers.schedule(this::reconcile, delay.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (RejectedExecutionException ex) {
			logger.debug("Reconcile not scheduled: shutting down");
		}
	}

	/**
	 * Makes the subscriptions match what the node needs now; tried again until Redis takes it.
	 */
	void reconcile() {
		if (this.closing) {
			return;
		}
		if (!this.subscriber.isOpen()) {
			scheduleReconcile(RECONCILE_RETRY);
			return;
		}
		Set<String> wanted = Set.copyOf(this.wantedChannels.get());
		List<String> stale = this.unconfirmedReleases.stream().filter(channel -> !wanted.contains(channel)).toList();
		List<CompletableFuture<Void>> commands = new ArrayList<>();
		if (!wanted.isEmpty()) {
			logger.info("Node {}: subscribing to {} relay channels again", this.nodeId, wanted.size());
			commands.add(this.subscriber.async()
				.subscribe(wanted.stream().map(RedisRelayBus::bytes).toArray(byte[][]::new))
				.toCompletableFuture());
		}
		if (!stale.isEmpty()) {
			logger.info("Node {}: unsubscribing {} relay channels released while Redis was away", this.nodeId,
					stale.size());
			commands.add(this.subscriber.async()
				.unsubscribe(stale.stream().map(RedisRelayBus::bytes).toArray(byte[][]::new))
				.thenRun(() -> stale.forEach(channel -> {
					if (!this.wantedChannels.get().contains(channel)) {
						this.unconfirmedReleases.remove(channel);
					}
				}))
				.toCompletableFuture());
		}
		CompletableFuture.allOf(commands.toArray(CompletableFuture[]::new)).whenComplete((done, failure) -> {
			if (failure != null) {
				logger.warn("Node {}: re-subscribing after a reconnect failed ({}); trying again", this.nodeId,
						failure.getClass().getSimpleName());
				scheduleReconcile(RECONCILE_RETRY);
			}
		});
	}

	/** @return channels released whose UNSUBSCRIBE Redis has not confirmed (for tests and health) */
	public int unconfirmedReleases() {
		return this.unconfirmedReleases.size();
	}

	@Override
	public void destroy() {
		this.closing = true;
		ScheduledFuture<?> pings = this.pings;
		if (pings != null) {
			pings.cancel(false);
		}
		ClientResources resources = this.client.getResources();
		this.subscriber.close();
		if (publishesOnSecondConnection()) {
			this.publisher.close();
		}
		this.client.shutdown();
		if (this.ownsResources) {
			resources.shutdown();
		}
	}

	/**
	 * @return whether the connection negotiated RESP3, on which a subscribed connection may send any
	 * command (Lettuce then lets it, see {@code PubSubEndpoint})
	 */
	private static boolean speaksResp3(StatefulRedisPubSubConnection<byte[], byte[]> connection) {
		return connection instanceof StatefulRedisConnectionImpl<?, ?> impl
				&& impl.getConnectionState().getNegotiatedProtocolVersion() == ProtocolVersion.RESP3;
	}

	/** @return whether publishes go on a connection of their own (Redis speaks only RESP2) */
	public boolean publishesOnSecondConnection() {
		return this.publisher != this.subscriber;
	}

	private static byte[] bytes(String channel) {
		return channel.getBytes(StandardCharsets.UTF_8);
	}

}
