package io.stomprelay.history;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.stomprelay.relay.DropReason;
import io.stomprelay.relay.RelayMetrics;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.history.HistoryRecoveryIT.epochOf;
import static io.stomprelay.history.HistoryRecoveryIT.lastPosition;
import static io.stomprelay.history.HistoryRecoveryIT.offsetOf;
import static io.stomprelay.support.RawStompSocket.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Redis killed (SIGKILL) and restarted while messages on a history destination keep coming from
 * both nodes: every connected session sees, per life of the stream, every position once, in order,
 * with no hole (the nodes read back what they missed while they re-subscribed), and a position from
 * before the restart is not recovered.
 */
class HistoryRedisRestartIT {

	private static final Duration WAIT = Duration.ofSeconds(30);

	private static final String DESTINATION = "/topic/history/steady";

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.named("history-restart", "--stomp-relay.history.destinations=/topic/history/**",
			"--stomp-relay.redis.max-reconnect-delay=200ms");

	@Test
	void noHoleAndNoDuplicateThroughARedisRestart() throws Exception {
		List<RawStompSocket> sessions = new ArrayList<>();
		for (int i = 0; i < 10; i++) {
			sessions.add(nodes.closedAfterTest(
					HistoryRecoveryIT.subscribed((i % 2 == 0) ? nodes.a() : nodes.b(), "steady-" + i, DESTINATION)));
		}
		SimpMessagingTemplate onA = nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		SimpMessagingTemplate onB = nodes.b().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		AtomicBoolean publishing = new AtomicBoolean(true);
		AtomicInteger published = new AtomicInteger();
		CompletableFuture<Void> publisher = CompletableFuture.runAsync(() -> {
			while (publishing.get() && published.get() < 30_000) {
				int n = published.incrementAndGet();
				((n % 2 == 0) ? onA : onB).convertAndSend(DESTINATION, "s" + n);
				HistoryRecoveryIT.pause();
			}
		});
		await().atMost(WAIT).until(() -> sessions.get(0).messages(DESTINATION).size() >= 300);
		String beforeRestart = lastPosition(sessions.get(0), DESTINATION);

		nodes.redis().kill();
		int atKill = published.get();
		await().atMost(WAIT).until(() -> published.get() >= atKill + 300);
		nodes.redis().restart();
		String epochAfter = await().atMost(WAIT).until(() -> {
			String last = lastPosition(sessions.get(1), DESTINATION);
			return (last != null && !epochOf(last).equals(epochOf(beforeRestart)) && offsetOf(last) >= 500)
					? epochOf(last) : null;
		}, epoch -> epoch != null);
		publishing.set(false);
		publisher.get(30, TimeUnit.SECONDS);

		long top;
		try (StatefulRedisConnection<String, String> redis = RedisClient.create(nodes.redis().url()).connect()) {
			Map<String, String> meta = redis.sync().hgetall("stomp-relay:history-meta:{" + DESTINATION + "}");
			assertThat(meta.get("e")).isEqualTo(epochAfter);
			top = Long.parseLong(meta.get("o"));
		}
		for (int i = 0; i < sessions.size(); i++) {
			RawStompSocket session = sessions.get(i);
			await().atMost(WAIT).until(() -> top == offsetOf(lastPosition(session, DESTINATION)));
			Map<String, List<Long>> byEpoch = new LinkedHashMap<>();
			for (String frame : session.frames()) {
				if (frame.startsWith("MESSAGE\n")) {
					String position = header(frame, "stream-position");
					byEpoch.computeIfAbsent(epochOf(position), e -> new ArrayList<>()).add(offsetOf(position));
				}
			}
			System.out.printf("restart session %d (node %s): %s, stream-gap signals: %d%n", i, (i % 2 == 0) ? "a" : "b",
					summary(byEpoch), session.frames().stream().filter(f -> header(f, "stream-gap") != null).count());
			assertThat(byEpoch).as("session %d saw two lives of the stream", i).hasSize(2);
			List<List<Long>> lives = new ArrayList<>(byEpoch.values());
			assertThat(lives.get(0)).as("session %d before the restart", i).isEqualTo(
					HistoryRecoveryIT.range(lives.get(0).get(0), lives.get(0).size()));
			assertThat(lives.get(1)).as("session %d after the restart", i).isEqualTo(HistoryRecoveryIT.range(1, (int) top));
		}
		double lost = nodes.a().bean(RelayMetrics.class).droppedCount(DropReason.MISSED)
				+ nodes.b().bean(RelayMetrics.class).droppedCount(DropReason.MISSED);
		System.out.printf("restart: %d published, %d in the new life, %.0f missed after the restart%n", published.get(), top,
				lost);

		RawStompSocket old = nodes.closedAfterTest(
				HistoryRecoveryIT.open(nodes.b(), "steady-old", DESTINATION, beforeRestart));
		String receipt = old.awaitFrame("RECEIPT", WAIT);
		assertThat(header(receipt, "recovered")).isEqualTo("false");
		assertThat(old.frames().subList(0, old.frames().indexOf(receipt))).noneMatch(f -> f.startsWith("MESSAGE"));
	}

	private static String summary(Map<String, List<Long>> byEpoch) {
		List<String> parts = new ArrayList<>();
		byEpoch.forEach((epoch, offsets) -> parts.add(
				"epoch " + epoch + ": " + offsets.get(0) + ".." + offsets.get(offsets.size() - 1) + " (" + offsets.size() + ")"));
		return String.join(", ", parts);
	}

}
