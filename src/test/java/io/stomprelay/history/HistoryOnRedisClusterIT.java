package io.stomprelay.history;

import java.util.List;

import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisClusterTestServer;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.support.RawStompSocket.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * History and recovery on a real Redis Cluster (three masters, three replicas): the append script
 * publishes with {@code SPUBLISH} on the shard of its keys, and resuming works as on one Redis.
 */
class HistoryOnRedisClusterIT {

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.onRedisCluster("history-cluster",
			"--stomp-relay.history.destinations=/topic/history/**,/user/queue/notes");

	@Test
	void missedMessagesOfAUserAreRecovered() {
		HistoryRecoveryIT.missedFiftyThenLive(nodes, "cluster-fifty");
	}

	@Test
	void topicHistoryIsRecoveredWithoutClassicPublish() {
		String destination = "/topic/history/cluster";
		RawStompSocket watcher = nodes.closedAfterTest(HistoryRecoveryIT.subscribed(nodes.a(), "cluster-watch", destination));
		SimpMessagingTemplate onB = nodes.b().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		for (int i = 1; i <= 20; i++) {
			onB.convertAndSend(destination, "c" + i);
		}
		await().until(() -> watcher.messages(destination).size() == 20);
		String tenth = watcher.frames().stream().filter(f -> "c10".equals(RawStompSocket.body(f))).findFirst()
			.map(f -> header(f, "stream-position")).orElseThrow();
		RawStompSocket resumed = nodes.closedAfterTest(HistoryRecoveryIT.open(nodes.b(), "cluster-resume", destination, tenth));
		assertThat(header(resumed.awaitFrame("RECEIPT", java.time.Duration.ofSeconds(20)), "recovered-count")).isEqualTo("10");
		assertThat(resumed.messages(destination)).isEqualTo(List.of("c11", "c12", "c13", "c14", "c15", "c16", "c17",
				"c18", "c19", "c20"));
		RedisClusterTestServer redis = nodes.redisCluster();
		for (int master : redis.masterPorts()) {
			assertThat(redis.commandCalls(master, "publish")).as("classic PUBLISH on master %d", master).isZero();
		}
	}

}
