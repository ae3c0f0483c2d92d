package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import io.lettuce.core.resource.ClientResources;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.system.StartupCheckException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.data.redis.core.StringRedisTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * The relay's guards on one real Redis: a second node with a node id already in use does not start,
 * the number of relay channels one node holds is capped, and stopping the relay leaves the
 * application's own Redis resources running.
 */
class RelayGuardsIT {

	private static RedisTestServer redis;

	@BeforeAll
	static void startRedis() {
		redis = RedisTestServer.start();
	}

	@AfterAll
	static void stopRedis() {
		redis.close();
	}

	@Test
	void aSecondNodeWithANodeIdAlreadyRunningRefusesToStart() {
		try (RelayNode first = RelayNode.start("twin", redis)) {
			assertThatThrownBy(() -> RelayNode.start("twin", redis)).hasRootCauseInstanceOf(StartupCheckException.class)
				.rootCause()
				.hasMessageContaining("another running node already uses stomp-relay.node-id=twin");
			assertThat(first.bean(RelayBus.class).isConnected()).isTrue();
		}
		try (RelayNode again = RelayNode.start("twin", redis)) {
			assertThat(again.bean(RelayBus.class).isConnected()).isTrue();
		}
	}

	@Test
	void aSubscribeThatWouldTakeTheNodePastMaxChannelsIsRefusedAndCounted() throws Exception {
		try (RelayNode node = RelayNode.start("capped", redis, "stomp-relay.relay.max-channels=3")) {
			List<StompTestClient> clients = new ArrayList<>();
			String prefix = "/topic/cap-" + UUID.randomUUID() + "-";
			try {
				for (int i = 0; i < 3; i++) {
					clients.add(StompTestClient.connect(node.wsUrl(), null).subscribe(prefix + i));
				}
				clients.add(StompTestClient.connect(node.wsUrl(), null).subscribe(prefix + 0));
				try (RawStompSocket raw = RawStompSocket.open(node.wsUrl())) {
					raw.sendText("CONNECT\naccept-version:1.2\nhost:x\n\n\0"
							+ "SUBSCRIBE\nid:1\ndestination:" + prefix + 3 + "\n\n\0");
					await().atMost(Duration.ofSeconds(5))
						.untilAsserted(() -> assertThat(raw.frames()).anyMatch(frame -> frame.startsWith("ERROR")
								&& frame.contains("message:too many destinations")));
				}
				assertThat(node.bean(ChannelInterest.class).size()).isEqualTo(3);
				assertThat(node.bean(io.micrometer.core.instrument.MeterRegistry.class)
					.get("stomp.relay.limit.rejections").tag("limit", "channels").counter().count()).isEqualTo(1);
			}
			finally {
				clients.forEach(StompTestClient::close);
			}
		}
	}

	@Test
	void stoppingTheRelayLeavesTheApplicationsLettuceResourcesRunning() throws Exception {
		try (RelayNode node = RelayNode.start("resources", redis)) {
			ClientResources shared = node.bean(ClientResources.class);

			node.bean(RedisRelayBus.class).destroy();

			assertThat(shared.eventExecutorGroup().isShuttingDown()).isFalse();
			shared.timer().newTimeout(timeout -> {
			}, 1, java.util.concurrent.TimeUnit.SECONDS).cancel();
			assertThat(node.bean(StringRedisTemplate.class).execute(
					(org.springframework.data.redis.core.RedisCallback<String>) connection -> connection.ping()))
				.isEqualTo("PONG");
		}
	}

}
