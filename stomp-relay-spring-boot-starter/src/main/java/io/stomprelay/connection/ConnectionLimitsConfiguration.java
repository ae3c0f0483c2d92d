package io.stomprelay.connection;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.system.NodeIdentity;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.tomcat.TomcatConnectorCustomizer;
import org.springframework.boot.tomcat.servlet.TomcatServletWebServerFactory;
import org.springframework.boot.web.server.WebServerFactoryCustomizer;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;
import org.springframework.web.socket.config.annotation.WebSocketTransportRegistration;
import org.springframework.web.socket.server.standard.ServletServerContainerFactoryBean;

/**
 * The per-session limits, on with {@code stomp-relay.limits.enabled=true}: the frame rate, the
 * number of subscriptions and of sessions per user ({@link SessionLimits}, which admits every session
 * either way and is therefore wired by {@link ClientChannelExecutors}), the frame size, slow
 * clients and the connect timeout (Spring's WebSocket transport settings), small per-connection
 * buffers ({@link ConnectionBuffers}) and no HTTP processor kept by an upgraded connection
 * ({@link UpgradeReleasingNioProtocol}), and short, safe {@code ERROR} frames for every refused frame
 * ({@link SafeStompErrorHandler}) and controller failure ({@link MessagingErrorAdvice}).
 */
@AutoConfiguration
@ConditionalOnProperty(name = "stomp-relay.limits.enabled", havingValue = "true")
class ConnectionLimitsConfiguration {

	/** Short, safe {@code ERROR} frames and the WebSocket transport limits. */
	@Bean
	static WebSocketMessageBrokerConfigurer connectionLimitsConfigurer(StompRelayProperties properties,
			SafeStompErrorHandler safeStompErrorHandler) {
		return new WebSocketMessageBrokerConfigurer() {
			@Override
			public void registerStompEndpoints(StompEndpointRegistry registry) {
				registry.setErrorHandler(safeStompErrorHandler);
			}

			@Override
			public void configureWebSocketTransport(WebSocketTransportRegistration registration) {
				StompRelayProperties.Limits limits = properties.limits();
				registration.setMessageSizeLimit((int) limits.messageSize().toBytes())
					.setSendTimeLimit((int) limits.sendTime().toMillis())
					.setSendBufferSizeLimit((int) limits.sendBuffer().toBytes())
					.setTimeToFirstMessage((int) limits.connectTimeout().toMillis())
					.addDecoratorFactory(StompEndpointConfiguration.PartialMessagesHandler::new);
			}
		};
	}

	@Bean
	static SafeStompErrorHandler safeStompErrorHandler(MeterRegistry registry, NodeIdentity node) {
		return new SafeStompErrorHandler(node.id(), SessionLimits.rejections(registry, "frame-size"),
				SessionLimits.rejections(registry, "access-denied"));
	}

	/** The {@code @MessageExceptionHandler}s that answer controller failures with a safe {@code ERROR}. */
	@Bean
	static MessagingErrorAdvice messagingErrorAdvice(ClientErrors clientErrors, NodeIdentity node) {
		return new MessagingErrorAdvice(clientErrors, node);
	}

	@Bean
	static ConnectionBuffers connectionBuffers(StompRelayProperties properties) {
		return new ConnectionBuffers(properties.limits().connectionBuffer().toBytes());
	}

	@Bean
	static TomcatConnectorCustomizer connectionBufferConnectorCustomizer(ConnectionBuffers buffers) {
		return buffers.connectorCustomizer();
	}

	/**
	 * Tomcat's default HTTP/1.1 NIO protocol becomes {@link UpgradeReleasingNioProtocol}, so that a
	 * WebSocket connection does not keep the HTTP processor of its upgrade alive; an application
	 * that chose another protocol keeps it.
	 */
	@Bean
	static WebServerFactoryCustomizer<TomcatServletWebServerFactory> upgradeReleasingProtocolCustomizer() {
		return (factory) -> {
			if (TomcatServletWebServerFactory.DEFAULT_PROTOCOL.equals(factory.getProtocol())) {
				factory.setProtocol(UpgradeReleasingNioProtocol.class.getName());
			}
		};
	}

	/**
	 * Tomcat allocates its WebSocket message buffers for every session, idle or not, so they stay
	 * small ({@link ConnectionBuffers}): larger frames arrive in parts
	 * ({@link StompEndpointConfiguration.PartialMessagesHandler}) and the STOMP decoder assembles them
	 * up to {@code stomp-relay.limits.message-size}.
	 */
	@Bean
	static ServletServerContainerFactoryBean webSocketContainer(ObjectProvider<ConnectionBuffers> buffers) {
		return new ConnectionBuffers.ContainerFactoryBean(buffers);
	}

}
