package io.stomprelay.support;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Two nodes on one real Redis for a test class, as a JUnit extension: started before the class's
 * first test, stopped after its last; the clients a test connects through it are closed after that
 * test. Register it with {@code @RegisterExtension static final TwoNodes nodes = TwoNodes.named(..)}.
 */
public final class TwoNodes implements BeforeAllCallback, AfterAllCallback, AfterEachCallback {

	private final String name;

	private final Object[] extraSourcesAndProperties;

	private final List<AutoCloseable> openedByTest = new ArrayList<>();

	private final boolean onRedisCluster;

	private RelayCluster cluster;

	private TwoNodes(String name, boolean onRedisCluster, Object[] extraSourcesAndProperties) {
		this.name = name;
		this.onRedisCluster = onRedisCluster;
		this.extraSourcesAndProperties = extraSourcesAndProperties;
	}

	/**
	 * @param name prefix of the node ids ({@code <name>-a}, {@code <name>-b})
	 * @param extraSourcesAndProperties as for {@link RelayNode#start}, applied to both nodes
	 */
	public static TwoNodes named(String name, Object... extraSourcesAndProperties) {
		return new TwoNodes(name, false, extraSourcesAndProperties);
	}

	/** As {@link #named}, on a Redis Cluster of three masters and three replicas. */
	public static TwoNodes onRedisCluster(String name, Object... extraSourcesAndProperties) {
		return new TwoNodes(name, true, extraSourcesAndProperties);
	}

	@Override
	public void beforeAll(ExtensionContext context) {
		this.cluster = this.onRedisCluster ? RelayCluster.startOnRedisCluster(this.name, this.extraSourcesAndProperties)
				: RelayCluster.start(this.name, this.extraSourcesAndProperties);
	}

	@Override
	public void afterEach(ExtensionContext context) throws Exception {
		List<AutoCloseable> opened;
		synchronized (this.openedByTest) {
			opened = new ArrayList<>(this.openedByTest);
			this.openedByTest.clear();
		}
		for (int i = opened.size() - 1; i >= 0; i--) {
			opened.get(i).close();
		}
	}

	@Override
	public void afterAll(ExtensionContext context) {
		if (this.cluster != null) {
			this.cluster.close();
		}
	}

	public RelayNode a() {
		return this.cluster.nodeA();
	}

	public RelayNode b() {
		return this.cluster.nodeB();
	}

	public RedisTestServer redis() {
		return this.cluster.redis();
	}

	public RedisClusterTestServer redisCluster() {
		return this.cluster.redisCluster();
	}

	/**
	 * Connects a STOMP client with a valid token for {@code user} ({@code null}: anonymous), closed
	 * after the test.
	 */
	public StompTestClient connect(RelayNode node, String user) {
		return connect(node.wsUrl(), user);
	}

	/** As {@link #connect(RelayNode, String)}, to any node's WebSocket URL. */
	public StompTestClient connect(String wsUrl, String user) {
		return closedAfterTest(StompTestClient.connect(wsUrl, (user != null) ? TestTokens.valid(user) : null));
	}

	/** @return {@code resource}, closed after the test */
	public <T extends AutoCloseable> T closedAfterTest(T resource) {
		synchronized (this.openedByTest) {
			this.openedByTest.add(resource);
		}
		return resource;
	}

}
