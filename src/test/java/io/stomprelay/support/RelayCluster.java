package io.stomprelay.support;

import java.util.Map;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;

/**
 * The normal test topology: two nodes against one real Redis, either a standalone redis-server
 * ({@link #start}) or a Redis Cluster of three shards ({@link #startOnRedisCluster}).
 */
public final class RelayCluster implements AutoCloseable {

	private final RedisTestServer redis;

	private final RedisClusterTestServer redisCluster;

	private final RelayNode nodeA;

	private final RelayNode nodeB;

	private RedisClient inspector;

	private StatefulRedisConnection<String, String> inspection;

	private RelayCluster(RedisTestServer redis, RedisClusterTestServer redisCluster, RelayNode nodeA, RelayNode nodeB) {
		this.redis = redis;
		this.redisCluster = redisCluster;
		this.nodeA = nodeA;
		this.nodeB = nodeB;
	}

	/**
	 * @param name prefix of the node ids ({@code <name>-a}, {@code <name>-b})
	 * @param extraSourcesAndProperties as for {@link RelayNode#start}, applied to both nodes
	 */
	public static RelayCluster start(String name, Object... extraSourcesAndProperties) {
		RedisTestServer redis = RedisTestServer.start();
		RelayNode nodeA = RelayNode.start(name + "-a", redis, extraSourcesAndProperties);
		RelayNode nodeB = RelayNode.start(name + "-b", redis, extraSourcesAndProperties);
		return new RelayCluster(redis, null, nodeA, nodeB);
	}

	/**
	 * The same two nodes on a Redis Cluster (three masters, three replicas), through
	 * {@code spring.data.redis.cluster.nodes}.
	 */
	public static RelayCluster startOnRedisCluster(String name, Object... extraSourcesAndProperties) {
		RedisClusterTestServer redis = RedisClusterTestServer.start();
		try {
			Map<String, String> properties = Map.of("spring.data.redis.cluster.nodes", redis.nodes());
			RelayNode nodeA = RelayNode.start(name + "-a", properties, extraSourcesAndProperties);
			RelayNode nodeB = RelayNode.start(name + "-b", properties, extraSourcesAndProperties);
			return new RelayCluster(null, redis, nodeA, nodeB);
		}
		catch (RuntimeException ex) {
			redis.close();
			throw ex;
		}
	}

	/** @return the standalone Redis; fails on a Redis Cluster */
	public RedisTestServer redis() {
		if (this.redis == null) {
			throw new IllegalStateException("these nodes run on a Redis Cluster");
		}
		return this.redis;
	}

	/** @return the Redis Cluster; fails on a standalone Redis */
	public RedisClusterTestServer redisCluster() {
		if (this.redisCluster == null) {
			throw new IllegalStateException("these nodes run on a standalone Redis");
		}
		return this.redisCluster;
	}

	/**
	 * @return how many Redis clients are subscribed to the channel: {@code PUBSUB NUMSUB} on a
	 * standalone Redis, {@code PUBSUB SHARDNUMSUB} on the master of the channel's shard in a cluster
	 */
	public synchronized long subscribers(String channel) {
		if (this.redisCluster != null) {
			return this.redisCluster.shardSubscribers(channel);
		}
		if (this.inspection == null) {
			this.inspector = RedisClient.create(this.redis.url());
			this.inspection = this.inspector.connect();
		}
		return this.inspection.sync().pubsubNumsub(channel).getOrDefault(channel, 0L);
	}

	public RelayNode nodeA() {
		return this.nodeA;
	}

	public RelayNode nodeB() {
		return this.nodeB;
	}

	@Override
	public synchronized void close() {
		this.nodeA.close();
		this.nodeB.close();
		if (this.inspection != null) {
			this.inspection.close();
			this.inspector.shutdown();
		}
		if (this.redis != null) {
			this.redis.close();
		}
		else {
			this.redisCluster.close();
		}
	}

}
