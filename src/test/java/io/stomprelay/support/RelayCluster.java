package io.stomprelay.support;

/**
 * The normal test topology: one real Redis and two nodes against it.
 */
public final class RelayCluster implements AutoCloseable {

	private final RedisTestServer redis;

	private final RelayNode nodeA;

	private final RelayNode nodeB;

	private RelayCluster(RedisTestServer redis, RelayNode nodeA, RelayNode nodeB) {
		this.redis = redis;
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
		return new RelayCluster(redis, nodeA, nodeB);
	}

	public RedisTestServer redis() {
		return this.redis;
	}

	public RelayNode nodeA() {
		return this.nodeA;
	}

	public RelayNode nodeB() {
		return this.nodeB;
	}

	@Override
	public void close() {
		this.nodeA.close();
		this.nodeB.close();
		this.redis.close();
	}

}
