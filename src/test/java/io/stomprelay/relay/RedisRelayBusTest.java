package io.stomprelay.relay;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.KillArgs;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.protocol.ProtocolVersion;
import io.stomprelay.support.RedisTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@link RedisRelayBus} against a real redis-server: on RESP3 one connection per node subscribes
 * and publishes (Redis answers a publish and sends this node's echo of it on one socket), on RESP2
 * a second connection publishes; either way every node subscribed gets every message, in the order
 * each thread published, and the bus recovers from its connection being killed.
 */
class RedisRelayBusTest {

	private static final Duration TIMEOUT = Duration.ofSeconds(5);

	private RedisTestServer redis;

	private StatefulRedisConnection<String, String> admin;

	private RedisClient adminClient;

	private final List<RedisRelayBus> buses = new ArrayList<>();

	/** Per node, per channel, what the node's listener got, in order. */
	private final Map<String, Map<String, List<String>>> received = new ConcurrentHashMap<>();

	@BeforeEach
	void start() {
		this.redis = RedisTestServer.start();
		this.adminClient = RedisClient.create(this.redis.url());
		this.admin = this.adminClient.connect();
	}

	@AfterEach
	void stop() {
		this.buses.forEach(RedisRelayBus::destroy);
		this.admin.close();
		this.adminClient.shutdown();
		this.redis.close();
	}

	@Test
	void onResp3OneConnectionPerNodeSubscribesAndPublishesEvenRightAfterSubscribing() throws Exception {
		RedisRelayBus a = bus("a", ProtocolVersion.RESP3);
		RedisRelayBus b = bus("b", ProtocolVersion.RESP3);
		b.subscribe("ch").get(5, TimeUnit.SECONDS);

		// no wait between SUBSCRIBE and PUBLISH: on one connection Redis takes them in that order
		CompletableFuture<Void> subscribed = a.subscribe("ch");
		List<CompletableFuture<Long>> replies = new ArrayList<>();
		for (int i = 0; i < 3; i++) {
			replies.add(a.publish("ch", bytes("m" + i)));
		}
		subscribed.get(5, TimeUnit.SECONDS);

		assertThat(a.publishesOnSecondConnection()).isFalse();
		assertThat(connectionsOf("a")).isEqualTo(1);
		assertThat(connectionsOf("b")).isEqualTo(1);
		assertThat(replies).allSatisfy(reply -> assertThat(reply.get(5, TimeUnit.SECONDS)).isEqualTo(2L));
		assertThat(a.subscriberCount("ch").get(5, TimeUnit.SECONDS)).isEqualTo(2L);
		await().atMost(TIMEOUT).until(() -> received("a", "ch").size() == 3 && received("b", "ch").size() == 3);
		assertThat(received("a", "ch")).containsExactly("m0", "m1", "m2");
		assertThat(received("b", "ch")).containsExactly("m0", "m1", "m2");
		List<Object> reply = a.evalOnPublisher(LuaScript.of("redis.call('PUBLISH', KEYS[1], ARGV[1]); return {ARGV[1]}"),
				new byte[][] { bytes("ch") }, bytes("m3")).get(5, TimeUnit.SECONDS);
		assertThat(reply).singleElement().isEqualTo(bytes("m3"));
		// the script's PUBLISH comes back to this node on the connection that runs the script
		await().atMost(TIMEOUT).until(() -> received("a", "ch").size() == 4 && received("b", "ch").size() == 4);
		assertThat(received("a", "ch")).containsExactly("m0", "m1", "m2", "m3");
		assertThat(received("b", "ch")).containsExactly("m0", "m1", "m2", "m3");
	}

	@Test
	void onResp2ASecondConnectionPublishes() throws Exception {
		RedisRelayBus a = bus("a", ProtocolVersion.RESP2);
		RedisRelayBus b = bus("b", ProtocolVersion.RESP2);
		a.subscribe("ch").get(5, TimeUnit.SECONDS);
		b.subscribe("ch").get(5, TimeUnit.SECONDS);

		assertThat(a.publishesOnSecondConnection()).isTrue();
		assertThat(connectionsOf("a")).isEqualTo(2);
		assertThat(a.publish("ch", bytes("m0")).get(5, TimeUnit.SECONDS)).isEqualTo(2L);
		assertThat(a.evalOnPublisher(LuaScript.of("redis.call('PUBLISH', KEYS[1], ARGV[1]); return {ARGV[1]}"),
				new byte[][] { bytes("ch") }, bytes("m1")).get(5, TimeUnit.SECONDS)).singleElement()
			.isEqualTo(bytes("m1"));
		assertThat(a.subscriberCount("ch").get(5, TimeUnit.SECONDS)).isEqualTo(2L);
		await().atMost(TIMEOUT).until(() -> received("a", "ch").size() == 2 && received("b", "ch").size() == 2);
		assertThat(received("a", "ch")).containsExactly("m0", "m1");
		assertThat(received("b", "ch")).containsExactly("m0", "m1");
	}

	@Test
	void fourThreadsPublishingBackToBackOnTheSharedConnectionKeepEachThreadsOrderOnEveryNode() throws Exception {
		RedisRelayBus a = bus("a", ProtocolVersion.RESP3);
		RedisRelayBus b = bus("b", ProtocolVersion.RESP3);
		int threads = 4;
		int perThread = 2_500;
		for (int t = 0; t < threads; t++) {
			a.subscribe("burst-" + t).get(5, TimeUnit.SECONDS);
			b.subscribe("burst-" + t).get(5, TimeUnit.SECONDS);
		}
		List<CompletableFuture<Long>> replies = new CopyOnWriteArrayList<>();
		List<Thread> publishers = new ArrayList<>();
		for (int t = 0; t < threads; t++) {
			String channel = "burst-" + t;
			Thread publisher = new Thread(() -> {
				for (int i = 0; i < perThread; i++) {
					replies.add(a.publish(channel, bytes(Integer.toString(i))));
				}
			});
			publishers.add(publisher);
			publisher.start();
		}
		for (Thread publisher : publishers) {
			publisher.join();
		}
		CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);

		List<String> expected = new ArrayList<>();
		for (int i = 0; i < perThread; i++) {
			expected.add(Integer.toString(i));
		}
		for (String node : List.of("a", "b")) {
			for (int t = 0; t < threads; t++) {
				String channel = "burst-" + t;
				await().atMost(Duration.ofSeconds(30)).until(() -> received(node, channel).size() >= perThread);
				assertThat(received(node, channel)).as(node + " " + channel).containsExactlyElementsOf(expected);
			}
		}
		assertThat(replies).allSatisfy(reply -> assertThat(reply.join()).isEqualTo(2L));
	}

	@Test
	void aKilledConnectionComesBackSubscribedAndPublishing() throws Exception {
		RedisRelayBus a = bus("a", ProtocolVersion.RESP3);
		RedisRelayBus b = bus("b", ProtocolVersion.RESP3);
		a.setWantedChannels(() -> List.of("ch"));
		a.subscribe("ch").get(5, TimeUnit.SECONDS);
		b.subscribe("ch").get(5, TimeUnit.SECONDS);

		long killed = connectionIdOf("a");
		this.admin.sync().clientKill(KillArgs.Builder.id(killed));
		await().atMost(Duration.ofSeconds(10))
			.until(() -> a.isConnected() && clientsOf("a").size() == 1 && connectionIdOf("a") != killed);
		// subscribed again: B's publish reaches A, and A's publish reaches B
		await().atMost(Duration.ofSeconds(10))
			.until(() -> b.publish("ch", bytes("from-b")).get(5, TimeUnit.SECONDS) == 2L);
		assertThat(a.publish("ch", bytes("from-a")).get(5, TimeUnit.SECONDS)).isEqualTo(2L);
		await().atMost(TIMEOUT).until(() -> received("a", "ch").contains("from-b") && received("b", "ch").contains("from-a"));
		assertThat(connectionsOf("a")).isEqualTo(1);
	}

	private RedisRelayBus bus(String node, ProtocolVersion protocol) {
		RedisURI uri = RedisURI.create(this.redis.url());
		uri.setClientName("stomp-relay:" + node);
		RedisClient client = RedisClient.create(uri);
		client.setOptions(ClientOptions.builder()
			.protocolVersion(protocol)
			.disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
			.timeoutOptions(TimeoutOptions.enabled(TIMEOUT))
			.build());
		RedisRelayBus bus = new RedisRelayBus(client, this.redis.url(), node,
				(channel, message) -> received(node, channel).add(text(message)), true);
		this.buses.add(bus);
		return bus;
	}

	private List<String> received(String node, String channel) {
		return this.received.computeIfAbsent(node, n -> new ConcurrentHashMap<>())
			.computeIfAbsent(channel, c -> new CopyOnWriteArrayList<>());
	}

	private List<String> clientsOf(String node) {
		return this.admin.sync()
			.clientList()
			.lines()
			.filter(line -> line.contains(" name=stomp-relay:" + node + " "))
			.toList();
	}

	private int connectionsOf(String node) {
		return clientsOf(node).size();
	}

	private long connectionIdOf(String node) {
		List<String> clients = clientsOf(node);
		assertThat(clients).hasSize(1);
		String line = clients.get(0);
		return Long.parseLong(line.substring(line.indexOf("id=") + 3, line.indexOf(' ')));
	}

	private static byte[] bytes(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

	private static String text(byte[] bytes) {
		return new String(bytes, StandardCharsets.UTF_8);
	}

}
