package io.stomprelay.connection;

import java.net.InetSocketAddress;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import io.stomprelay.session.LocalSessionRegistry;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import io.stomprelay.system.StartupCheckException;
import io.stomprelay.system.NodeIdentity;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.http.server.ServerHttpRequest;
import org.springframework.http.server.ServerHttpResponse;
import org.springframework.http.server.ServletServerHttpRequest;
import org.springframework.messaging.simp.config.MessageBrokerRegistry;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.WebSocketExtension;
import org.springframework.web.socket.WebSocketHandler;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.handler.WebSocketHandlerDecorator;
import org.springframework.web.socket.config.annotation.EnableWebSocketMessageBroker;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;
import org.springframework.web.socket.server.standard.StandardWebSocketUpgradeStrategy;
import org.springframework.web.socket.server.support.DefaultHandshakeHandler;

/**
 * The stomp-relay server's own STOMP endpoint, on with {@code stomp-relay.endpoint.enabled=true}
 * (an application that brings its own {@code @EnableWebSocketMessageBroker} configurer leaves it
 * off): {@code /ws}, plain WebSocket, application prefix {@code /app}, Spring's simple broker for
 * {@code /topic} and {@code /queue} with heart-beats, user prefix {@code /user}, browser origins
 * from {@code stomp-relay.allowed-origins}, permessage-deflate only when
 * {@code stomp-relay.websocket.compression} is on, a graceful drain on shutdown
 * ({@link SessionDrain}) and a bounded blocking send per session.
 */
@AutoConfiguration
@ConditionalOnProperty(name = "stomp-relay.endpoint.enabled", havingValue = "true")
@EnableWebSocketMessageBroker
class StompEndpointConfiguration implements WebSocketMessageBrokerConfigurer {

	static final String ENDPOINT = "/ws";

	private final StompRelayProperties properties;

	private final ThreadPoolTaskScheduler scheduler;

	private final SessionDrain drain;

	private final ClientChannelExecutors.BlockingSendTimeout blockingSendTimeout;

	StompEndpointConfiguration(StompRelayProperties properties, ThreadPoolTaskScheduler stompRelayScheduler,
			SessionDrain sessionDrain, ClientChannelExecutors.BlockingSendTimeout blockingSendTimeout) {
		this.drain = sessionDrain;
		this.blockingSendTimeout = blockingSendTimeout;
		this.properties = properties;
		this.scheduler = stompRelayScheduler;
	}

	@Override
	public void registerStompEndpoints(StompEndpointRegistry registry) {
		List<String> origins = this.properties.allowedOrigins();
		if (origins.stream().anyMatch(origin -> origin.contains("*"))) {
			throw new StartupCheckException("stomp-relay.allowed-origins contains a wildcard.",
					"List each allowed browser origin explicitly, e.g. https://app.example.com.");
		}
		registry.addEndpoint(ENDPOINT)
			.setHandshakeHandler(new ExtensionFilteringHandshakeHandler(this.properties.websocket().compression(),
					this.properties.websocket().handshakeHeaders()))
			.addInterceptors(this.drain, this.blockingSendTimeout)
			.setAllowedOrigins(origins.toArray(String[]::new));
	}

	@Override
	public void configureMessageBroker(MessageBrokerRegistry registry) {
		long heartbeat = this.properties.websocket().heartbeat().toMillis();
		registry.setApplicationDestinationPrefixes("/app");
		registry.setUserDestinationPrefix("/user");
		registry.enableSimpleBroker("/topic", "/queue")
			.setHeartbeatValue(new long[] { heartbeat, heartbeat })
			.setTaskScheduler(this.scheduler);
	}

	@Bean
	static SessionDrain sessionDrain(ClientErrors clientErrors, StompRelayProperties properties, NodeIdentity node,
			LocalSessionRegistry sessions) {
		SessionDrain drain = new SessionDrain(clientErrors, properties.shutdown().drainTimeout(), node.id(), sessions);
		sessions.addListener(drain);
		return drain;
	}

	@Bean
	static ClientChannelExecutors.BlockingSendTimeout blockingSendTimeout(StompRelayProperties properties) {
		return new ClientChannelExecutors.BlockingSendTimeout(2 * properties.limits().sendTime().toMillis());
	}

	/**
	 * Accepts WebSocket messages in parts, so a frame larger than the container's buffer reaches the
	 * STOMP decoder (which buffers incomplete frames and enforces the frame size limit with a clear
	 * {@code ERROR}) instead of the container closing the connection.
	 */
	static final class PartialMessagesHandler extends WebSocketHandlerDecorator {

		PartialMessagesHandler(WebSocketHandler delegate) {
			super(delegate);
		}

		@Override
		public boolean supportsPartialMessages() {
			return true;
		}

		@Override
		public void afterConnectionEstablished(WebSocketSession session) throws Exception {
			super.afterConnectionEstablished(new ConnectionBuffers.FixedMessageBufferSession(session));
		}

	}

	/**
	 * Negotiates WebSocket extensions (permessage-deflate) only when compression is enabled, and
	 * never makes the HTTP request's user the session's: a STOMP session is authenticated by its
	 * CONNECT frame alone ({@link TokenAuthenticationInterceptor}), where the token is verified and
	 * its expiry ends the session. Returning no user from {@link #determineUser} is not enough on its
	 * own (the WebSocket session then falls back to the container's user of the upgrade request), so
	 * the container also sees the upgrade request without one ({@link SessionUpgradeStrategy}).
	 */
	static final class ExtensionFilteringHandshakeHandler extends DefaultHandshakeHandler {

		private final boolean compression;

		ExtensionFilteringHandshakeHandler(boolean compression, List<String> keptHeaders) {
			super(new SessionUpgradeStrategy(keptHeaders));
			this.compression = compression;
		}

		@Override
		protected List<WebSocketExtension> filterRequestedExtensions(ServerHttpRequest request,
				List<WebSocketExtension> requested, List<WebSocketExtension> supported) {
			return this.compression ? super.filterRequestedExtensions(request, requested, supported) : List.of();
		}

		@Override
		protected Principal determineUser(ServerHttpRequest request, WebSocketHandler wsHandler,
				Map<String, Object> attributes) {
			return null;
		}

	}

	/**
	 * Upgrades with the standard (JSR-356) strategy, but shows the container and Spring's session
	 * the upgrade request without its user, so the WebSocket session has none to fall back on, and
	 * with only the header names of {@code stomp-relay.websocket.handshake-headers}: both keep a copy
	 * of the listed headers for the whole life of every connection (Tomcat's handshake request,
	 * Spring's handshake headers), which with a browser's cookies and user agent is a large share of
	 * an idle session's memory. The container still reads the headers the upgrade itself needs
	 * ({@code Sec-WebSocket-Key}, ...) by name; handshake interceptors ran on the whole request before.
	 * Spring's session also keeps the node's own address: every session gets the same instance.
	 */
	static final class SessionUpgradeStrategy extends StandardWebSocketUpgradeStrategy {

		static final int SHARED_LOCAL_ADDRESSES = 16;

		/** Header names compare without case, as HTTP's do. */
		private final Set<String> keptHeaders = new TreeSet<>(String.CASE_INSENSITIVE_ORDER);

		private final Map<String, InetSocketAddress> localAddresses = new ConcurrentHashMap<>();

		SessionUpgradeStrategy(List<String> keptHeaders) {
			this.keptHeaders.addAll(keptHeaders);
		}

		@Override
		public void upgrade(ServerHttpRequest request, ServerHttpResponse response, String selectedProtocol,
				List<WebSocketExtension> selectedExtensions, Principal user, WebSocketHandler wsHandler,
				Map<String, Object> attributes) {
			super.upgrade(sessionView(request), response, selectedProtocol, selectedExtensions, null, wsHandler,
					attributes);
		}

		ServerHttpRequest sessionView(ServerHttpRequest request) {
			if (!(request instanceof ServletServerHttpRequest servlet)) {
				return request;
			}
			return new ServletServerHttpRequest(withoutUserAndHeaders(servlet.getServletRequest())) {
				@Override
				public InetSocketAddress getLocalAddress() {
					return localAddress(getServletRequest());
				}
			};
		}

		/**
		 * The node's own address, of which Spring's session keeps a copy: one instance per address
		 * and port for every session, not a new one each (about 100 bytes per idle session). A
		 * node listens on few addresses; past {@value #SHARED_LOCAL_ADDRESSES} of them each session
		 * gets its own again.
		 */
		InetSocketAddress localAddress(HttpServletRequest request) {
			String key = request.getLocalAddr() + " " + request.getLocalPort();
			InetSocketAddress shared = this.localAddresses.get(key);
			if (shared != null) {
				return shared;
			}
			InetSocketAddress address = new InetSocketAddress(request.getLocalAddr(), request.getLocalPort());
			if (this.localAddresses.size() < SHARED_LOCAL_ADDRESSES) {
				this.localAddresses.putIfAbsent(key, address);
			}
			return address;
		}

		private HttpServletRequest withoutUserAndHeaders(HttpServletRequest request) {
			return new HttpServletRequestWrapper(request) {
				@Override
				public Principal getUserPrincipal() {
					return null;
				}

				@Override
				public String getRemoteUser() {
					return null;
				}

				@Override
				public boolean isUserInRole(String role) {
					return false;
				}

				@Override
				public Enumeration<String> getHeaderNames() {
					List<String> names = new ArrayList<>();
					for (Enumeration<String> all = super.getHeaderNames(); all.hasMoreElements();) {
						String name = all.nextElement();
						if (SessionUpgradeStrategy.this.keptHeaders.contains(name)) {
							names.add(name);
						}
					}
					return Collections.enumeration(names);
				}
			};
		}

	}

}
