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

import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.MessageKind;
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
				"stomp_relay_slow_consumers_total", "stomp_relay_redis_connected");
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

	private static double value(String seriesPrefix) throws Exception {
		return scrape().stream()
			.filter(line -> line.startsWith(seriesPrefix))
			.mapToDouble(line -> Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)))
			.sum();
	}

}
