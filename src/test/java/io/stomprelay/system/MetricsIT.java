package io.stomprelay.system;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.MessageKind;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Every metric docs/OPERATIONS.md lists is in {@code /actuator/prometheus}, tagged with the node id,
 * and every drop reason and message kind is registered before anything happened.
 */
class MetricsIT {

	private static final Path OPERATIONS = Path.of("docs/OPERATIONS.md");

	private static final Pattern DOCUMENTED = Pattern.compile("^\\| `(stomp_relay_[a-z_]+)`", Pattern.MULTILINE);

	private static final String NODE = "node-metrics";

	private static final HttpClient http = HttpClient.newHttpClient();

	private static RedisTestServer redis;

	private static RelayNode node;

	@BeforeAll
	static void startNode() {
		redis = RedisTestServer.start();
		node = RelayNode.start(NODE, redis);
	}

	@AfterAll
	static void stopNode() {
		node.close();
		redis.close();
	}

	@Test
	void everyDocumentedMetricIsExposedWithTheNodeTag() throws Exception {
		List<String> documented = documentedMetrics();
		assertThat(documented).contains("stomp_relay_dropped_total", "stomp_relay_local_deliveries_total",
				"stomp_relay_slow_consumers_total", "stomp_relay_redis_connected", "stomp_relay_inbound_total",
				"stomp_relay_inbound_bytes_total");
		List<String> scrape = scrape();

		for (String metric : documented) {
			assertThat(scrape).as(metric)
				.anyMatch(line -> line.startsWith(metric) && line.contains("node=\"" + NODE + "\""));
		}
		for (DropReason reason : DropReason.values()) {
			assertThat(scrape).anyMatch(line -> line.startsWith("stomp_relay_dropped_total{")
					&& line.contains("reason=\"" + reason.tag() + "\""));
			assertThat(Files.readString(OPERATIONS)).contains("| `" + reason.tag() + "` |");
		}
		for (MessageKind kind : MessageKind.values()) {
			assertThat(scrape).anyMatch(line -> line.startsWith("stomp_relay_published_total{")
					&& line.contains("kind=\"" + kind.tag() + "\""));
			assertThat(scrape).anyMatch(line -> line.startsWith("stomp_relay_received_total{")
					&& line.contains("kind=\"" + kind.tag() + "\""));
		}
		assertThat(scrape).anyMatch(line -> line.startsWith("stomp_relay_redis_connected{") && line.endsWith(" 1.0"));
	}

	@Test
	void sessionsAndLocalDeliveriesAreCounted() throws Exception {
		String topic = "/topic/metrics-" + UUID.randomUUID();
		double deliveredBefore = value("stomp_relay_local_deliveries_total");
		try (StompTestClient client = StompTestClient.connect(node.wsUrl(), null).subscribe(topic)) {
			assertThat(value("stomp_relay_sessions{kind=\"anonymous\"")).isGreaterThanOrEqualTo(1);

			node.bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend(topic, "counted");

			await().atMost(Duration.ofSeconds(5)).until(() -> !client.bodies(topic).isEmpty());
			await().atMost(Duration.ofSeconds(5))
				.until(() -> value("stomp_relay_local_deliveries_total") >= deliveredBefore + 1);
		}
	}

	@Test
	void everyMessageRedisSendsThisNodeIsCountedAsInboundWhateverHappensToIt() throws Exception {
		String topic = "/topic/inbound-" + UUID.randomUUID();
		RelayChannels channels = node.bean(RelayChannels.class);
		RedisClient redisClient = RedisClient.create(redis.url());
		try (StompTestClient client = StompTestClient.connect(node.wsUrl(), null).subscribe(topic);
				StatefulRedisConnection<String, String> connection = redisClient.connect()) {
			RedisCommands<String, String> commands = connection.sync();
			double inbound = settled("stomp_relay_inbound_total");
			double bytes = value("stomp_relay_inbound_bytes_total");
			double echoes = value("stomp_relay_echoes_total");
			double bad = badEnvelopes();

			// three foreign, broken messages on a channel this node needs (Redis says: one receiver)
			for (String message : List.of("a", "bb", "ccc")) {
				assertThat(commands.publish(channels.destinationChannel(topic), message)).isEqualTo(1);
			}
			// none on channels no session of this node needs: Redis does not send them here
			assertThat(commands.publish(channels.destinationChannel(topic + "-nobody"), "dd")).isZero();
			assertThat(commands.publish(channels.userChannel("nobody-" + UUID.randomUUID()), "ee")).isZero();

			await().atMost(Duration.ofSeconds(5))
				.until(() -> badEnvelopes() >= bad + 3);
			assertThat(settled("stomp_relay_inbound_total")).isEqualTo(inbound + 3);
			assertThat(value("stomp_relay_inbound_bytes_total")).isEqualTo(bytes + 6);

			// one sent on this node: published to Redis, and back here as the node's own echo
			node.bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend(topic, "echoed");

			await().atMost(Duration.ofSeconds(5)).until(() -> value("stomp_relay_echoes_total") >= echoes + 1);
			assertThat(settled("stomp_relay_inbound_total")).isEqualTo(inbound + 4);
			assertThat(value("stomp_relay_echoes_total")).isEqualTo(echoes + 1);
			assertThat(value("stomp_relay_inbound_bytes_total")).isGreaterThan(bytes + 6 + "echoed".length());
		}
		finally {
			redisClient.shutdown();
		}
	}

	/** The series' value once it has not changed for 300 ms (at most 5 s), so nothing is still on its way. */
	private static double settled(String seriesPrefix) throws Exception {
		double[] last = { value(seriesPrefix) };
		await().atMost(Duration.ofSeconds(5)).pollDelay(Duration.ofMillis(300)).pollInterval(Duration.ofMillis(300))
			.until(() -> {
				double now = value(seriesPrefix);
				boolean stable = now == last[0];
				last[0] = now;
				return stable;
			});
		return last[0];
	}

	private static List<String> documentedMetrics() throws IOException {
		Matcher matcher = DOCUMENTED.matcher(Files.readString(OPERATIONS));
		return matcher.results().map(match -> match.group(1)).distinct().toList();
	}

	private static List<String> scrape() throws Exception {
		HttpResponse<String> response = http.send(
				HttpRequest.newBuilder(URI.create(node.httpUrl() + "/actuator/prometheus")).build(),
				HttpResponse.BodyHandlers.ofString());
		assertThat(response.statusCode()).isEqualTo(200);
		return response.body().lines().filter(line -> !line.startsWith("#")).toList();
	}

	private static double badEnvelopes() throws Exception {
		return scrape().stream()
			.filter(line -> line.startsWith("stomp_relay_dropped_total{") && line.contains("reason=\"bad-envelope\""))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.sum();
	}

	private static double value(String seriesPrefix) throws Exception {
		return scrape().stream()
			.filter(line -> line.startsWith(seriesPrefix))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.sum();
	}

}
