package io.stomprelay.support;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.models.partitions.ClusterPartitionParser;
import io.lettuce.core.cluster.models.partitions.Partitions;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.output.StatusOutput;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;
import io.lettuce.core.resource.ClientResources;

import static org.awaitility.Awaitility.await;

/**
 * A real Redis Cluster on loopback: three masters, each with one replica, six redis-server processes
 * (the binary {@link RedisTestServer} runs) on free ports, joined with {@code CLUSTER MEET},
 * {@code CLUSTER ADDSLOTS} and {@code CLUSTER REPLICATE}. Returned once {@code cluster_state:ok}
 * holds on every node and every replica is in sync.
 * <p>Failover is fast: {@code cluster-node-timeout} is 1 s, so a killed master's replica is
 * promoted about 2 to 3 s later. {@code cluster-require-full-coverage no} keeps the other shards
 * serving while one has no master. A node is killed by its process id ({@link #killMasterOf}) and
 * started again on the same port and directory ({@link #restart}), where it rejoins as a replica.
 */
public final class RedisClusterTestServer implements AutoCloseable {

	private static final int MASTERS = 3;

	private static final Duration FORMED = Duration.ofSeconds(30);

	private static final List<String> SETTINGS = List.of("cluster-enabled yes", "cluster-config-file nodes.conf",
			"cluster-node-timeout 1000", "cluster-replica-validity-factor 0", "cluster-require-full-coverage no",
			"cluster-allow-replica-migration no");

	private final List<RedisProcess> nodes;

	/** Each node's cluster bus port, by its client port. */
	private final Map<Integer, Integer> busPorts = new HashMap<>();

	/** Shared by the short admin connections, so each costs a TCP connect only. */
	private final ClientResources resources = ClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(2).build();

	private RedisClusterTestServer(List<RedisProcess> nodes) {
		this.nodes = nodes;
	}

	/** Starts six processes and forms the cluster; returns once it is healthy. */
	public static RedisClusterTestServer start() {
		List<RedisProcess> nodes = new ArrayList<>();
		RedisClusterTestServer cluster = new RedisClusterTestServer(nodes);
		try {
			for (int i = 0; i < 2 * MASTERS; i++) {
				int busPort = RedisTestServer.freePort();
				RedisProcess node = new RedisProcess(RedisTestServer.freePort(), withBusPort(busPort), false);
				cluster.busPorts.put(node.port(), busPort);
				nodes.add(node);
				node.start();
			}
			cluster.form();
			return cluster;
		}
		catch (RuntimeException | Error ex) {
			cluster.close();
			throw ex;
		}
	}

	/**
	 * The node's settings with its cluster bus on a free port of its own: by default Redis puts the
	 * bus on the client port + 10000, which nothing reserved and another process may hold (a run
	 * failed on exactly that: "Failed listening on port ... (cluster), aborting").
	 */
	private static List<String> withBusPort(int busPort) {
		List<String> settings = new ArrayList<>(SETTINGS);
		settings.add("cluster-port " + busPort);
		return settings;
	}

	private void form() {
		int slotsPerMaster = SlotHash.SLOT_COUNT / MASTERS;
		for (int m = 0; m < MASTERS; m++) {
			int first = m * slotsPerMaster;
			int last = (m == MASTERS - 1) ? SlotHash.SLOT_COUNT - 1 : first + slotsPerMaster - 1;
			int[] slots = IntStream.rangeClosed(first, last).toArray();
			on(this.nodes.get(m).port(), redis -> redis.clusterAddSlots(slots));
		}
		for (RedisProcess node : this.nodes.subList(1, this.nodes.size())) {
			// CLUSTER MEET with the bus port: without it Redis looks for the bus on the port + 10000
			on(this.nodes.get(0).port(), redis -> redis.dispatch(CommandType.CLUSTER, new StatusOutput<>(StringCodec.UTF8),
					new CommandArgs<>(StringCodec.UTF8).add("MEET").add("127.0.0.1").add(node.port())
						.add(this.busPorts.get(node.port()))));
		}
		await().atMost(FORMED).pollInterval(Duration.ofMillis(100)).until(() -> this.nodes.stream()
			.allMatch(node -> info(node.port()).contains("cluster_known_nodes:" + this.nodes.size())));
		for (int m = 0; m < MASTERS; m++) {
			String masterId = on(this.nodes.get(m).port(), RedisCommands::clusterMyId);
			on(this.nodes.get(MASTERS + m).port(), redis -> redis.clusterReplicate(masterId));
		}
		await().atMost(FORMED).pollInterval(Duration.ofMillis(100)).until(this::isHealthy);
	}

	/**
	 * @return whether every running node says {@code cluster_state:ok}, every master of the live
	 * topology has a replica in sync, and all live nodes agree on the masters
	 */
	public boolean isHealthy() {
		for (RedisProcess node : this.nodes) {
			if (node.isRunning() && !info(node.port()).contains("cluster_state:ok")) {
				return false;
			}
		}
		Partitions topology = topology();
		List<RedisClusterNode> masters = masters(topology);
		if (masters.size() != MASTERS) {
			return false;
		}
		for (RedisClusterNode replica : topology) {
			if (replica.is(RedisClusterNode.NodeFlag.UPSTREAM) || !isLive(replica)) {
				continue;
			}
			String replication = on(replica.getUri().getPort(), redis -> redis.info("replication"));
			if (!replication.contains("master_link_status:up")) {
				return false;
			}
		}
		return masters.stream().allMatch(this::isLive);
	}

	/** @return {@code host:port,...} of every node, for {@code spring.data.redis.cluster.nodes} */
	public String nodes() {
		return this.nodes.stream().map(node -> "127.0.0.1:" + node.port()).collect(Collectors.joining(","));
	}

	/** @return the ports of the current masters */
	public List<Integer> masterPorts() {
		return masters(topology()).stream().map(node -> node.getUri().getPort()).sorted().toList();
	}

	/** @return the port of the master that owns the channel's slot now */
	public int masterPortOf(String channel) {
		RedisClusterNode master = topology().getMasterBySlot(SlotHash.getSlot(channel));
		if (master == null) {
			throw new IllegalStateException("no master for the slot of " + channel);
		}
		return master.getUri().getPort();
	}

	/** @return how many clients are subscribed ({@code SSUBSCRIBE}) to the channel on its shard's master */
	public long shardSubscribers(String channel) {
		return on(masterPortOf(channel), redis -> redis.pubsubShardNumsub(channel)).getOrDefault(channel, 0L);
	}

	/** @return the shard channels ({@code PUBSUB SHARDCHANNELS}) one node has subscribers for */
	public List<String> shardChannels(int port) {
		return on(port, RedisCommands::pubsubShardChannels);
	}

	/**
	 * @param command lower case, e.g. {@code publish}
	 * @return how many times the node at {@code port} ran the command ({@code INFO commandstats})
	 */
	public long commandCalls(int port, String command) {
		String stats = on(port, redis -> redis.info("commandstats"));
		return Arrays.stream(stats.split("\r?\n"))
			.filter(line -> line.startsWith("cmdstat_" + command + ":calls="))
			.map(line -> line.substring(line.indexOf("calls=") + 6, line.indexOf(',')))
			.mapToLong(Long::parseLong)
			.findFirst()
			.orElse(0);
	}

	/**
	 * Kills (SIGKILL) the master that owns the channel's slot.
	 * @return the killed node's port, for {@link #awaitPromotion} and {@link #restart}
	 */
	public int killMasterOf(String channel) {
		int port = masterPortOf(channel);
		process(port).kill();
		return port;
	}

	/**
	 * Fails the channel's shard over gracefully: {@code CLUSTER FAILOVER} on its master's replica,
	 * which becomes the master while the old master, still running, becomes its replica.
	 * @return the old master's port, for {@link #awaitPromotion}
	 */
	public int failOverShardOf(String channel) {
		int slot = SlotHash.getSlot(channel);
		Partitions topology = topology();
		RedisClusterNode master = topology.getMasterBySlot(slot);
		RedisClusterNode replica = topology.stream()
			.filter(node -> master.getNodeId().equals(node.getSlaveOf()) && isLive(node))
			.findFirst()
			.orElseThrow(() -> new IllegalStateException("the master of " + channel + " has no live replica"));
		on(replica.getUri().getPort(), redis -> redis.clusterFailover(false));
		return master.getUri().getPort();
	}

	/**
	 * Waits until the live nodes agree that another node is master of the slots the killed master
	 * owned, and the cluster says {@code cluster_state:ok}.
	 * @param killedPort as returned by {@link #killMasterOf}
	 * @param slotOf a channel in one of those slots
	 * @return the port of the promoted master
	 */
	public int awaitPromotion(int killedPort, String slotOf, Duration atMost) {
		int slot = SlotHash.getSlot(slotOf);
		await().atMost(atMost).pollInterval(Duration.ofMillis(25)).ignoreExceptions().until(() -> {
			for (RedisProcess node : this.nodes) {
				if (!node.isRunning()) {
					continue;
				}
				RedisClusterNode master = parse(node.port()).getMasterBySlot(slot);
				if (master == null || master.getUri().getPort() == killedPort
						|| !info(node.port()).contains("cluster_state:ok")) {
					return false;
				}
			}
			return true;
		});
		return masterPortOf(slotOf);
	}

	/**
	 * Moves the channel's slot (it holds no keys) to another master, the way a resharding does
	 * ({@code CLUSTER SETSLOT IMPORTING / MIGRATING / NODE}); returns once every running node agrees.
	 * @return the port of the master that owns the slot now
	 */
	public int moveSlotOf(String channel) {
		int slot = SlotHash.getSlot(channel);
		Partitions topology = topology();
		RedisClusterNode from = topology.getMasterBySlot(slot);
		RedisClusterNode to = masters(topology).stream()
			.filter(master -> !master.getNodeId().equals(from.getNodeId()))
			.findFirst()
			.orElseThrow();
		int fromPort = from.getUri().getPort();
		int toPort = to.getUri().getPort();
		on(toPort, redis -> redis.clusterSetSlotImporting(slot, from.getNodeId()));
		on(fromPort, redis -> redis.clusterSetSlotMigrating(slot, to.getNodeId()));
		on(toPort, redis -> redis.clusterSetSlotNode(slot, to.getNodeId()));
		on(fromPort, redis -> redis.clusterSetSlotNode(slot, to.getNodeId()));
		for (RedisClusterNode master : masters(topology)) {
			int port = master.getUri().getPort();
			if (port != fromPort && port != toPort) {
				on(port, redis -> redis.clusterSetSlotNode(slot, to.getNodeId()));
			}
		}
		await().atMost(FORMED).pollInterval(Duration.ofMillis(25)).until(() -> this.nodes.stream()
			.filter(RedisProcess::isRunning)
			.allMatch(node -> parse(node.port()).getMasterBySlot(slot).getUri().getPort() == toPort));
		return toPort;
	}

	/** Starts a killed node again on its port; it rejoins the cluster (as a replica after a failover). */
	public void restart(int port) {
		process(port).start();
	}

	/** @return the process id of the node on {@code port} */
	public long pid(int port) {
		return process(port).pid();
	}

	/** The topology as a running node sees it. */
	private Partitions topology() {
		for (RedisProcess node : this.nodes) {
			if (node.isRunning()) {
				return parse(node.port());
			}
		}
		throw new IllegalStateException("no node of the cluster is running");
	}

	private Partitions parse(int port) {
		String nodes = on(port, RedisCommands::clusterNodes);
		return ClusterPartitionParser.parse(nodes);
	}

	private static List<RedisClusterNode> masters(Partitions topology) {
		return topology.stream()
			.filter(node -> node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.getSlots().isEmpty())
			.filter(node -> !node.is(RedisClusterNode.NodeFlag.FAIL))
			.toList();
	}

	private boolean isLive(RedisClusterNode node) {
		return !node.is(RedisClusterNode.NodeFlag.FAIL) && process(node.getUri().getPort()).isRunning();
	}

	private String info(int port) {
		return on(port, redis -> redis.clusterInfo());
	}

	private RedisProcess process(int port) {
		return this.nodes.stream()
			.filter(node -> node.port() == port)
			.findFirst()
			.orElseThrow(() -> new IllegalArgumentException("no node on port " + port));
	}

	/** Runs one admin command on one node over a connection of its own. */
	private <T> T on(int port, Function<RedisCommands<String, String>, T> command) {
		RedisClient client = RedisClient.create(this.resources, RedisURI.builder()
			.withHost("127.0.0.1")
			.withPort(port)
			.withTimeout(Duration.ofSeconds(5))
			.build());
		try (StatefulRedisConnection<String, String> connection = client.connect()) {
			return command.apply(connection.sync());
		}
		finally {
			client.shutdown(Duration.ZERO, Duration.ZERO);
		}
	}

	/** @return the log of every node, for a failure message */
	public Map<Integer, String> logs() {
		return this.nodes.stream().collect(Collectors.toMap(RedisProcess::port, RedisProcess::log));
	}

	@Override
	public void close() {
		this.nodes.forEach(RedisProcess::close);
		this.resources.shutdown();
	}

}
