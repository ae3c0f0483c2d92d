package io.stomprelay.relay;

import java.time.Duration;
import java.util.List;

import io.lettuce.core.RedisClient;
import io.lettuce.core.resource.ClientResources;
import io.stomprelay.StompRelayApplication;
import io.stomprelay.connection.SessionLimits;
import io.stomprelay.connection.TokenAuthenticationInterceptor;
import io.stomprelay.connection.UpgradeReleasingNioProtocol;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import jakarta.websocket.server.ServerContainer;
import org.apache.catalina.connector.Connector;
import org.junit.jupiter.api.Test;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.tomcat.TomcatWebServer;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.messaging.support.AbstractSubscribableChannel;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.security.messaging.access.intercept.AuthorizationChannelInterceptor;

import static io.stomprelay.support.ChannelInterceptors.indexOf;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Layer 2: how one node's Spring context wires the relay into Spring's channels, and that with the
 * relay off a node runs alone without Redis.
 */
class RelayWiringIT {

	@Test
	void relayInterceptsTheBrokerChannelAndAuthenticationComesBeforeLimitsAndAuthorization() {
		try (RedisTestServer redis = RedisTestServer.start(); RelayNode node = RelayNode.start("wiring", redis)) {
			assertThat(interceptors(node.bean("brokerChannel", AbstractSubscribableChannel.class)))
				.hasAtLeastOneElementOfType(ClusterRelayInterceptor.class);
			assertThat(interceptors(node.bean("clientOutboundChannel", AbstractSubscribableChannel.class)))
				.hasAtLeastOneElementOfType(AudienceFilter.class);
			List<ChannelInterceptor> inbound = interceptors(node.bean("clientInboundChannel", AbstractSubscribableChannel.class));
			int authentication = indexOf(inbound, TokenAuthenticationInterceptor.class);
			assertThat(authentication).isNotNegative();
			assertThat(indexOf(inbound, SessionLimits.class)).isEqualTo(authentication + 1);
			assertThat(indexOf(inbound, AuthorizationChannelInterceptor.class)).isGreaterThan(authentication + 1);
			assertThat(indexOf(inbound, SessionInterest.class)).isGreaterThan(indexOf(inbound, AuthorizationChannelInterceptor.class));
			assertThat(node.bean(RelayBus.class).isConnected()).isTrue();
			// per-command observation and latency histograms cost the Redis I/O thread on every
			// PUBLISH; the relay measures its own publish latency instead
			ClientResources relayResources = node.bean("relayRedisClient", RedisClient.class).getResources();
			assertThat(relayResources.tracing().isEnabled()).isFalse();
			assertThat(relayResources.commandLatencyRecorder().isEnabled()).isFalse();
		}
	}

	@Test
	void withTheRelayOffANodeStartsWithoutRedisAndDeliversLocally() {
		int nothingListens = RedisTestServer.freePort();
		try (ConfigurableApplicationContext context = new SpringApplicationBuilder(StompRelayApplication.class)
			.properties("server.port=0", "spring.data.redis.url=redis://127.0.0.1:" + nothingListens,
					"stomp-relay.relay.enabled=false", "stomp-relay.auth.jwt.secret=" + TestTokens.SECRET,
					"management.health.redis.enabled=false", "spring.main.banner-mode=off")
			.run()) {
			assertThat(context.getBeanNamesForType(ClusterRelayInterceptor.class)).isEmpty();
			assertThat(context.getBeanNamesForType(RelayBus.class)).isEmpty();
			String url = "ws://127.0.0.1:" + ((WebServerApplicationContext) context).getWebServer().getPort() + "/ws";
			try (StompTestClient one = StompTestClient.connect(url, TestTokens.valid("yara", "user")).subscribe("/user/queue/events");
					StompTestClient two = StompTestClient.connect(url, TestTokens.valid("yara", "user")).subscribe("/user/queue/events")) {
				one.send("/app/events", "");
				await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
					assertThat(one.bodies("/user/queue/events")).containsExactly("1", "2", "3");
					assertThat(two.bodies("/user/queue/events")).containsExactly("1", "2", "3");
				});
			}
		}
	}

	@Test
	void tomcatKeepsEachConnectionsBuffersAtTheConnectionBufferSize() {
		try (RedisTestServer redis = RedisTestServer.start();
				RelayNode node = RelayNode.start("buffers", redis, "stomp-relay.limits.connection-buffer=2KB")) {
			ServerContainer container = node.bean("webSocketContainer", ServerContainer.class);
			// in chars of two bytes: 2048 bytes
			assertThat(container.getDefaultMaxTextMessageBufferSize()).isEqualTo(1024);
			// STOMP clients send text: the binary one stays at the minimum
			assertThat(container.getDefaultMaxBinaryMessageBufferSize()).isEqualTo(256);
			Connector connector = ((TomcatWebServer) node.webServer())
				.getTomcat()
				.getConnector();
			assertThat(connector.getProperty("socket.appReadBufSize")).hasToString("2048");
			// upgraded connections do not keep their upgrade's HTTP processor alive
			assertThat(connector.getProtocolHandler()).isInstanceOf(UpgradeReleasingNioProtocol.class);
			// WebSocket frames are written around the socket's write buffer: only HTTP responses use it
			assertThat(connector.getProperty("socket.appWriteBufSize")).hasToString("256");
			// JVM-wide, so set by whichever node of this test JVM started first
			assertThat(System.getProperty("org.apache.tomcat.websocket.DEFAULT_BUFFER_SIZE")).isNotNull();
		}
	}

	private static List<ChannelInterceptor> interceptors(AbstractSubscribableChannel channel) {
		return channel.getInterceptors();
	}


}
