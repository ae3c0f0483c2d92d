package com.example.chat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;

import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.simp.config.MessageBrokerRegistry;
import org.springframework.web.socket.config.annotation.EnableWebSocketMessageBroker;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * An application that relays to an external broker ({@code enableStompBrokerRelay}) is told at
 * start-up, in one sentence, that the starter does not apply, and nothing is published to Redis.
 */
@ExtendWith(OutputCaptureExtension.class)
class ExternalBrokerAppIT {

	@Test
	void anAppWithAnExternalBrokerRelayIsToldTheStarterDoesNotApplyAndNothingIsRelayed(CapturedOutput output) {
		try (RedisTestServer redis = RedisTestServer.start();
				ConfigurableApplicationContext app = new SpringApplicationBuilder(ExternalBrokerApp.class)
					.run("--server.port=0", "--spring.data.redis.url=" + redis.url())) {
			assertThat(output.getOut()).containsOnlyOnce("stomp-relay does not apply to this application: it relays "
					+ "to an external broker (enableStompBrokerRelay), which already connects the nodes; nothing is "
					+ "relayed through Redis.");

			app.getBean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend("/topic/room", "x");

			assertThat(output.getOut()).doesNotContain("dropped");
			RedisClient client = RedisClient.create(redis.url());
			try (StatefulRedisConnection<String, String> connection = client.connect()) {
				assertThat(connection.sync().info("commandstats")).doesNotContain("cmdstat_publish:");
			}
			finally {
				client.shutdown();
			}
		}
	}

	/**
	 * A plain Spring app with an external broker relay that is never started in this test (no
	 * component scan, so the sample's own configuration stays out).
	 */
	@Configuration(proxyBeanMethods = false)
	@EnableAutoConfiguration
	@EnableWebSocketMessageBroker
	static class ExternalBrokerApp implements WebSocketMessageBrokerConfigurer {

		@Override
		public void registerStompEndpoints(StompEndpointRegistry registry) {
			registry.addEndpoint("/relay-ws");
		}

		@Override
		public void configureMessageBroker(MessageBrokerRegistry registry) {
			registry.setApplicationDestinationPrefixes("/app");
			registry.enableStompBrokerRelay("/topic").setAutoStartup(false);
		}

	}

}
