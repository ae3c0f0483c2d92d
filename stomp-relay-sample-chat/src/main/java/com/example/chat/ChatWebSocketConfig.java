package com.example.chat;

import org.springframework.context.annotation.Configuration;
import org.springframework.messaging.simp.config.MessageBrokerRegistry;
import org.springframework.web.socket.config.annotation.EnableWebSocketMessageBroker;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;

/**
 * The chat's own STOMP set-up, as any Spring application writes it: the endpoint {@code /chat-ws}
 * for pages served from localhost, Spring's simple broker for {@code /topic} and {@code /queue},
 * {@code /app} for the controllers and {@code /user} for user destinations. Each session receives
 * its replies and the room's messages in the order they were published: a chat wants that.
 */
@Configuration
@EnableWebSocketMessageBroker
public class ChatWebSocketConfig implements WebSocketMessageBrokerConfigurer {

	@Override
	public void registerStompEndpoints(StompEndpointRegistry registry) {
		registry.addEndpoint("/chat-ws")
			.setHandshakeHandler(new UserFromQueryHandshakeHandler())
			.setAllowedOriginPatterns("http://localhost:[*]", "http://127.0.0.1:[*]");
		// Many apps ask Spring to keep each session's frames in order; the starter keeps that promise with its
		// own per-session lanes and takes this setting over (the IT checks that such an app works and stays ordered).
		registry.setPreserveReceiveOrder(true);
	}

	@Override
	public void configureMessageBroker(MessageBrokerRegistry registry) {
		registry.setApplicationDestinationPrefixes("/app");
		registry.setUserDestinationPrefix("/user");
		registry.enableSimpleBroker("/topic", "/queue");
		registry.setPreservePublishOrder(true);
	}

}
