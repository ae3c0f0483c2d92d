package io.stomprelay.relay;

import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Collection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Supplier;

import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.stomprelay.system.StartupCheckException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.DisposableBean;

/**
 * {@link RelayBus} on Redis pub/sub with Lettuce: one connection publishes, one subscribes.
 * Commands are asynchronous; while Redis is unreachable they fail at once instead of queueing, so
 * a publish never blocks a client thread. After a reconnect every channel that local sessions still
 * need is subscribed again, including channels first asked for while Redis was away. Losing and
 * regaining Redis is logged once each, with the node id.
 * <p>{@link #isConnected()} follows Lettuce's {@code isOpen()}, which Lettuce clears when the TCP
 * connection goes inactive and sets again only once a reconnect completed its handshake (checked
 * against a killed and restarted redis-server in {@code RedisOutageIT}).
 */
public class RedisRelayBus implements RelayBus, DisposableBean {

	private static final Logger logger = LoggerFactory.getLogger(RedisRelayBus.class);

	private final RedisClient client;

	private final StatefulRedisConnection<byte[], byte[]> publisher;

	private final StatefulRedisPubSubConnection<byte[], byte[]> subscriber;

	private final String nodeId;

	private volatile Supplier<Collection<String>> wantedChannels = java.util.List::of;

	private volatile boolean closing;

	/**
	 * Connects to Redis, or fails the node's start with a clear message.
	 * @param client a client whose options reject commands while disconnected
	 * @param location where Redis is, for messages
	 * @param nodeId this node, for log lines
	 * @param listener receives messages on subscribed channels
	 */
	public RedisRelayBus(RedisClient client, String location, String nodeId, Listener listener) {
		this.client = client;
		this.nodeId = nodeId;
		try {
			this.publisher = client.connect(ByteArrayCodec.INSTANCE);
			this.subscriber = client.connectPubSub(ByteArrayCodec.INSTANCE);
		}
		catch (RedisConnectionException ex) {
			ClientResources resources = client.getResources();
			client.shutdown();
			resources.shutdown();
			throw new StartupCheckException("cannot connect to Redis at " + location + ".",
					"Start Redis or point the node at it with spring.data.redis.url (env SPRING_DATA_REDIS_URL) "
							+ "or spring.data.redis.host / port.", ex);
		}
		this.subscriber.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(byte[] channel, byte[] message) {
				listener.onMessage(new String(channel, StandardCharsets.UTF_8), message);
			}
		});
		this.subscriber.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
				logger.info("Node {}: relay subscriber reconnected to Redis", nodeId);
				resubscribe();
			}

			@Override
			public void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
				if (!RedisRelayBus.this.closing) {
					logger.warn("Node {}: relay subscriber lost Redis; cross-node delivery to this node paused", nodeId);
				}
			}
		});
		this.publisher.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
				logger.info("Node {}: relay publisher reconnected to Redis", nodeId);
			}

			@Override
			public void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
				if (!RedisRelayBus.this.closing) {
					logger.warn("Node {}: relay publisher lost Redis; cluster publishes are dropped until it is back",
							nodeId);
				}
			}
		});
		logger.info("Node {}: relay connected to Redis at {}", nodeId, location);
	}

	/**
	 * @param channels the channels local sessions need, consulted after a reconnect
	 */
	public void setWantedChannels(Supplier<Collection<String>> channels) {
		this.wantedChannels = channels;
	}

	@Override
	public CompletableFuture<Long> publish(String channel, byte[] message) {
		try {
			return this.publisher.async().publish(bytes(channel), message).toCompletableFuture();
		}
		catch (RuntimeException ex) {
			return CompletableFuture.failedFuture(ex);
		}
	}

	/**
	 * Lettuce fails a command with {@link RedisCommandTimeoutException} after
	 * {@code stomp-relay.redis.command-timeout}; one already written to Redis may still have been
	 * delivered.
	 */
	@Override
	public boolean isTimeout(Throwable publishFailure) {
		Throwable cause = (publishFailure instanceof CompletionException && publishFailure.getCause() != null)
				? publishFailure.getCause() : publishFailure;
		return cause instanceof RedisCommandTimeoutException;
	}

	@Override
	public CompletableFuture<Void> subscribe(String channel) {
		try {
			return this.subscriber.async().subscribe(bytes(channel)).toCompletableFuture();
		}
		catch (RuntimeException ex) {
			return CompletableFuture.failedFuture(ex);
		}
	}

	@Override
	public void unsubscribe(String channel) {
		try {
			this.subscriber.async().unsubscribe(bytes(channel));
		}
		catch (RuntimeException ex) {
			logger.debug("Unsubscribe failed: {}", ex.getClass().getSimpleName());
		}
	}

	@Override
	public boolean isConnected() {
		return this.publisher.isOpen() && this.subscriber.isOpen();
	}

	private void resubscribe() {
		Collection<String> channels = this.wantedChannels.get();
		if (channels.isEmpty()) {
			return;
		}
		logger.info("Node {}: subscribing to {} relay channels again", this.nodeId, channels.size());
		byte[][] names = channels.stream().map(RedisRelayBus::bytes).toArray(byte[][]::new);
		this.subscriber.async().subscribe(names).whenComplete((done, failure) -> {
			if (failure != null) {
				logger.warn("Node {}: subscribing again after a reconnect failed: {}", this.nodeId,
						failure.getClass().getSimpleName());
			}
		});
	}

	@Override
	public void destroy() {
		this.closing = true;
		ClientResources resources = this.client.getResources();
		this.subscriber.close();
		this.publisher.close();
		this.client.shutdown();
		resources.shutdown();
	}

	private static byte[] bytes(String channel) {
		return channel.getBytes(StandardCharsets.UTF_8);
	}

}
