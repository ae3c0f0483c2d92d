package io.stomprelay.history;

import java.time.Duration;
import java.util.List;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.history.HistoryRecoveryIT.epochOf;
import static io.stomprelay.history.HistoryRecoveryIT.lastPosition;
import static io.stomprelay.history.HistoryRecoveryIT.offsets;
import static io.stomprelay.support.RawStompSocket.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A failover that loses the last appends (replication is asynchronous): the Redis the nodes use
 * ends up with the data of a replica that stopped replicating before the last three messages, as a
 * promoted replica would. Those three positions were already seen by every session; the messages
 * after the failover must still reach them, under a new epoch, instead of being taken for
 * duplicates of the lost ones.
 */
class HistoryFailoverIT {

	private static final Duration WAIT = Duration.ofSeconds(20);

	private static final String DESTINATION = "/topic/history/failover";

	private static final String PROBE = "/topic/history/failover-probe";

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.named("history-failover",
			"--stomp-relay.history.destinations=/topic/history/**", "--stomp-relay.redis.max-reconnect-delay=200ms");

	@Test
	void messagesAfterAFailoverThatLostAppendsAreDeliveredUnderANewEpoch() {
		RawStompSocket onB = nodes.closedAfterTest(HistoryRecoveryIT.subscribed(nodes.b(), "failover-b", DESTINATION));
		RawStompSocket onA = nodes.closedAfterTest(HistoryRecoveryIT.subscribed(nodes.a(), "failover-a", DESTINATION));
		SimpMessagingTemplate publisher = nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		RedisTestServer primary = nodes.redis();
		try (RedisTestServer replica = RedisTestServer.start();
				StatefulRedisConnection<String, String> toPrimary = RedisClient.create(primary.url()).connect();
				StatefulRedisConnection<String, String> toReplica = RedisClient.create(replica.url()).connect()) {
			RedisCommands<String, String> primaryRedis = toPrimary.sync();
			RedisCommands<String, String> replicaRedis = toReplica.sync();
			replicaRedis.replicaof("127.0.0.1", primary.port());
			awaitInSync(replicaRedis);

			for (int i = 1; i <= 5; i++) {
				publisher.convertAndSend(DESTINATION, "before-" + i);
			}
			await().atMost(WAIT).until(() -> onB.messages(DESTINATION).size() == 5 && onA.messages(DESTINATION).size() == 5);
			await().atMost(WAIT).until(() -> "5".equals(replicaRedis.hget(metaKey(), "o")));
			String before = epochOf(lastPosition(onB, DESTINATION));

			// the replica stops replicating and takes over with offsets 1..5 only
			replicaRedis.replicaofNoOne();
			for (int i = 1; i <= 3; i++) {
				publisher.convertAndSend(DESTINATION, "lost-" + i);
			}
			await().atMost(WAIT).until(() -> onB.messages(DESTINATION).size() == 8 && onA.messages(DESTINATION).size() == 8);
			assertThat(offsets(onB, DESTINATION)).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);

			// the nodes' Redis now holds the promoted replica's data, under a replication id of its own
			primaryRedis.replicaof("127.0.0.1", replica.port());
			awaitInSync(primaryRedis);
			primaryRedis.replicaofNoOne();
			assertThat(primaryRedis.hget(metaKey(), "o")).isEqualTo("5");

			// the path through Redis works again (probed on a destination of its own)
			RawStompSocket probes = nodes.closedAfterTest(HistoryRecoveryIT.subscribed(nodes.b(), "failover-probe", PROBE));
			await().atMost(WAIT).untilAsserted(() -> {
				publisher.convertAndSend(PROBE, "probe");
				assertThat(probes.messages(PROBE)).isNotEmpty();
			});
			for (int i = 1; i <= 3; i++) {
				publisher.convertAndSend(DESTINATION, "after-" + i);
			}
			for (RawStompSocket session : List.of(onA, onB)) {
				await().atMost(WAIT).untilAsserted(() -> assertThat(session.messages(DESTINATION)).containsExactly(
						"before-1", "before-2", "before-3", "before-4", "before-5", "lost-1", "lost-2", "lost-3",
						"after-1", "after-2", "after-3"));
				List<String> frames = session.frames();
				String last = lastPosition(session, DESTINATION);
				assertThat(epochOf(last)).as("the epoch after the failover").isNotEqualTo(before);
				assertThat(frames.stream().filter(frame -> frame.startsWith("MESSAGE\n"))
					.map(frame -> header(frame, "stream-position"))
					.filter(position -> epochOf(position).equals(epochOf(last)))
					.toList()).as("positions of the new epoch").doesNotHaveDuplicates();
			}
			// a position from before the failover is not recovered: its epoch is gone
			RawStompSocket resumed = nodes.closedAfterTest(
					HistoryRecoveryIT.open(nodes.b(), "failover-resume", DESTINATION, before + "-2"));
			assertThat(header(resumed.awaitFrame("RECEIPT", WAIT), "recovered")).isEqualTo("false");
		}
	}

	private static String metaKey() {
		return "stomp-relay:history-meta:{" + DESTINATION + "}";
	}

	private static void awaitInSync(RedisCommands<String, String> replica) {
		await().atMost(WAIT).until(() -> {
			String info = replica.info("replication");
			return info.contains("master_link_status:up") && !info.contains("master_sync_in_progress:1");
		});
	}

}
