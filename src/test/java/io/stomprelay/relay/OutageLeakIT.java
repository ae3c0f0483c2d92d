package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Sessions that leave while Redis is down take their relay channels with them: once Redis is back
 * and both nodes have reconnected, no node is subscribed to a destination channel that no local
 * session needs any more (a node that is, receives, and pays for, traffic nobody reads).
 */
class OutageLeakIT {

	private static final int TOPICS = 20;

	private static RelayCluster cluster;

	private static RedisTestServer redis;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private static RedisClient inspector;

	@BeforeAll
	static void start() {
		cluster = RelayCluster.start("outage-leak");
		redis = cluster.redis();
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
		inspector = RedisClient.create(redis.url());
	}

	@AfterAll
	static void stop() {
		inspector.shutdown();
		cluster.close();
	}

	@Test
	void destinationChannelsOfSessionsThatLeftDuringAnOutageAreNotSubscribedAfterIt() {
		RelayChannels channels = nodeB.bean(RelayChannels.class);
		String run = UUID.randomUUID().toString().substring(0, 8);
		double sessionsBefore = gauge(nodeB, "stomp.relay.sessions", "anonymous");
		List<RawStompSocket> sessions = new ArrayList<>();
		String[] leakChannels = new String[TOPICS];
		for (int i = 0; i < TOPICS; i++) {
			String topic = "/topic/leak-" + run + "-" + i;
			RawStompSocket session = RawStompSocket.connected(nodeB.wsUrl(), null);
			session.sendFrame("SUBSCRIBE", "", "id:0", "destination:" + topic, "receipt:ready");
			session.awaitFrame("RECEIPT", Duration.ofSeconds(5));
			sessions.add(session);
			leakChannels[i] = channels.destinationChannel(topic);
		}
		assertThat(subscribers(leakChannels)).as("subscribers of each channel before the outage")
			.allSatisfy((channel, count) -> assertThat(count).isEqualTo(1));

		redis.kill();
		await().atMost(Duration.ofSeconds(5))
			.until(() -> connected(nodeA) == 0 && connected(nodeB) == 0);
		sessions.forEach(RawStompSocket::close);
		await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
			assertThat(gauge(nodeB, "stomp.relay.sessions", "anonymous")).isEqualTo(sessionsBefore);
			for (String channel : leakChannels) {
				assertThat(nodeB.bean(ChannelInterest.class).count(channel)).as(channel).isZero();
			}
		});
		assertThat(connected(nodeB)).as("Redis still down when the sessions had left").isZero();

		redis.restart();
		await().atMost(Duration.ofSeconds(10)).until(() -> connected(nodeA) == 1 && connected(nodeB) == 1);

		await().atMost(Duration.ofSeconds(3)).untilAsserted(() -> assertThat(subscribed(leakChannels))
			.as("channels of sessions gone during the outage, subscribed again after it").isEmpty());
		await().during(Duration.ofSeconds(1)).atMost(Duration.ofSeconds(3))
			.untilAsserted(() -> assertThat(subscribed(leakChannels)).isEmpty());
	}

	/** @return the channels with at least one subscriber, and how many */
	private static Map<String, Long> subscribed(String[] channels) {
		Map<String, Long> subscribers = new TreeMap<>(subscribers(channels));
		subscribers.values().removeIf(count -> count == 0);
		return subscribers;
	}

	private static Map<String, Long> subscribers(String[] channels) {
		// a new connection each time: the server may have been restarted since
		try (StatefulRedisConnection<String, String> inspection = inspector.connect()) {
			return inspection.sync().pubsubNumsub(channels);
		}
	}

	private static double connected(RelayNode node) {
		return node.bean(MeterRegistry.class).get("stomp.relay.redis.connected").gauge().value();
	}

	private static double gauge(RelayNode node, String name, String kind) {
		return node.bean(MeterRegistry.class).get(name).tag("kind", kind).gauge().value();
	}

}
