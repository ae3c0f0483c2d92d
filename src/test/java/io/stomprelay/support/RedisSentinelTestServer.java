package io.stomprelay.support;

import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.sentinel.api.StatefulRedisSentinelConnection;
import io.lettuce.core.sentinel.api.sync.RedisSentinelCommands;

import static org.awaitility.Awaitility.await;

/**
 * A real Sentinel set-up on loopback: one master, one replica and three sentinels (quorum 2), five
 * redis-server processes (the binary {@link RedisTestServer} runs) on free ports. Returned once the
 * replica is in sync and every sentinel knows the replica and the two other sentinels.
 * <p>Failover is fast: {@code down-after-milliseconds} is 1 s. {@link #killMaster()} kills the
 * master by its process id; {@link #awaitFailover} waits until the sentinels name the replica as
 * the master and it says {@code role:master}.
 */
public final class RedisSentinelTestServer implements AutoCloseable {

	public static final String MASTER_NAME = "relaymaster";

	private static final Duration READY = Duration.ofSeconds(30);

	private final List<RedisProcess> servers = new ArrayList<>();

	private final List<RedisProcess> sentinels = new ArrayList<>();

	private final ClientResources resources = ClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(2).build();

	private RedisSentinelTestServer() {
	}

	public static RedisSentinelTestServer start() {
		RedisSentinelTestServer setUp = new RedisSentinelTestServer();
		try {
			setUp.startProcesses();
			return setUp;
		}
		catch (RuntimeException | Error ex) {
			setUp.close();
			throw ex;
		}
	}

	private void startProcesses() {
		int masterPort = RedisTestServer.freePort();
		RedisProcess master = new RedisProcess(masterPort, List.of(), false);
		this.servers.add(master);
		master.start();
		RedisProcess replica = new RedisProcess(RedisTestServer.freePort(),
				List.of("replicaof 127.0.0.1 " + masterPort), false);
		this.servers.add(replica);
		replica.start();
		for (int i = 0; i < 3; i++) {
			RedisProcess sentinel = new RedisProcess(RedisTestServer.freePort(),
					List.of("sentinel monitor " + MASTER_NAME + " 127.0.0.1 " + masterPort + " 2",
							"sentinel down-after-milliseconds " + MASTER_NAME + " 1000",
							"sentinel failover-timeout " + MASTER_NAME + " 10000",
							"sentinel parallel-syncs " + MASTER_NAME + " 1"),
					true);
			this.sentinels.add(sentinel);
			sentinel.start();
		}
		await().atMost(READY).pollInterval(Duration.ofMillis(100)).until(this::isHealthy);
	}

	/**
	 * @return whether the master has a replica in sync and every running sentinel knows the master,
	 * the replica and the other sentinels
	 */
	public boolean isHealthy() {
		int masterPort = masterPort();
		for (RedisProcess server : this.servers) {
			if (server.port() != masterPort && server.isRunning()
					&& !onServer(server.port(), redis -> redis.info("replication")).contains("master_link_status:up")) {
				return false;
			}
		}
		for (RedisProcess sentinel : this.sentinels) {
			Map<String, String> state = onSentinel(sentinel.port(), redis -> redis.master(MASTER_NAME));
			if (!"2".equals(state.get("num-other-sentinels")) || !"1".equals(state.get("num-slaves"))
					|| !String.valueOf(masterPort).equals(state.get("port"))) {
				return false;
			}
		}
		return true;
	}

	/** @return {@code host:port,...} of the sentinels, for {@code spring.data.redis.sentinel.nodes} */
	public String sentinelNodes() {
		return this.sentinels.stream().map(s -> "127.0.0.1:" + s.port()).collect(Collectors.joining(","));
	}

	/** @return the master's port as the first sentinel names it */
	public int masterPort() {
		SocketAddress address = onSentinel(this.sentinels.get(0).port(),
				redis -> redis.getMasterAddrByName(MASTER_NAME));
		return ((java.net.InetSocketAddress) address).getPort();
	}

	/** Kills (SIGKILL) the master; returns its port. */
	public int killMaster() {
		int port = masterPort();
		server(port).kill();
		return port;
	}

	/**
	 * Waits until every sentinel names another master than {@code oldPort} and that server says
	 * {@code role:master}.
	 * @return the new master's port
	 */
	public int awaitFailover(int oldPort, Duration atMost) {
		await().atMost(atMost).pollInterval(Duration.ofMillis(25)).ignoreExceptions().until(() -> {
			for (RedisProcess sentinel : this.sentinels) {
				SocketAddress address = onSentinel(sentinel.port(), redis -> redis.getMasterAddrByName(MASTER_NAME));
				if (((java.net.InetSocketAddress) address).getPort() == oldPort) {
					return false;
				}
			}
			return onServer(masterPort(), redis -> redis.info("replication")).contains("role:master");
		});
		return masterPort();
	}

	/** Starts a killed server again on its port (the sentinels turn a former master into a replica). */
	public void restart(int port) {
		server(port).start();
	}

	/** @return the process id of the server on {@code port} */
	public long pid(int port) {
		return server(port).pid();
	}

	/** @return the channels ({@code PUBSUB CHANNELS}) the server on {@code port} has subscribers for */
	public List<String> channels(int port) {
		return onServer(port, RedisCommands::pubsubChannels);
	}

	private RedisProcess server(int port) {
		return this.servers.stream()
			.filter(server -> server.port() == port)
			.findFirst()
			.orElseThrow(() -> new IllegalArgumentException("no server on port " + port));
	}

	private <T> T onServer(int port, Function<RedisCommands<String, String>, T> command) {
		RedisClient client = client(port);
		try (StatefulRedisConnection<String, String> connection = client.connect()) {
			return command.apply(connection.sync());
		}
		finally {
			client.shutdown(Duration.ZERO, Duration.ZERO);
		}
	}

	private <T> T onSentinel(int port, Function<RedisSentinelCommands<String, String>, T> command) {
		RedisClient client = client(port);
		try (StatefulRedisSentinelConnection<String, String> connection = client.connectSentinel()) {
			return command.apply(connection.sync());
		}
		finally {
			client.shutdown(Duration.ZERO, Duration.ZERO);
		}
	}

	private RedisClient client(int port) {
		return RedisClient.create(this.resources,
				RedisURI.builder().withHost("127.0.0.1").withPort(port).withTimeout(Duration.ofSeconds(5)).build());
	}

	@Override
	public void close() {
		this.sentinels.forEach(RedisProcess::close);
		this.servers.forEach(RedisProcess::close);
		this.resources.shutdown();
	}

}
