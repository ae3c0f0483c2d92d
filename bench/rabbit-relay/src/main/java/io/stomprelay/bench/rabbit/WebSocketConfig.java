package io.stomprelay.bench.rabbit;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.messaging.simp.config.MessageBrokerRegistry;
import org.springframework.web.socket.config.annotation.EnableWebSocketMessageBroker;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;

/**
 * STOMP endpoint {@code /ws}; broker relay to RabbitMQ with the user-destination and
 * user-registry broadcasts that make {@code /user/...} work across nodes.
 */
@Configuration
@EnableWebSocketMessageBroker
public class WebSocketConfig implements WebSocketMessageBrokerConfigurer {

	private final String host;

	private final int port;

	private final String secret;

	public WebSocketConfig(@Value("${bench.rabbit.host}") String host, @Value("${bench.rabbit.stomp-port}") int port,
			@Value("${bench.jwt.secret}") String secret) {
		this.host = host;
		this.port = port;
		this.secret = secret;
	}

	@Override
	public void registerStompEndpoints(StompEndpointRegistry registry) {
		registry.addEndpoint("/ws").setAllowedOriginPatterns("*");
	}

	@Override
	public void configureMessageBroker(MessageBrokerRegistry registry) {
		registry.setApplicationDestinationPrefixes("/app");
		registry.enableStompBrokerRelay("/topic", "/queue")
			.setRelayHost(this.host)
			.setRelayPort(this.port)
			.setVirtualHost("/")
			.setClientLogin("guest")
			.setClientPasscode("guest")
			.setSystemLogin("guest")
			.setSystemPasscode("guest")
			.setUserDestinationBroadcast("/topic/unresolved-user")
			.setUserRegistryBroadcast("/topic/simp-user-registry");
	}

	@Override
	public void configureClientInboundChannel(ChannelRegistration registration) {
		registration.interceptors(new JwtConnectInterceptor(this.secret));
	}

}
