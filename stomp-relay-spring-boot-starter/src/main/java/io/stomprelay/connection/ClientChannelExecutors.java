package io.stomprelay.connection;

import java.util.Map;

import io.stomprelay.system.StompRelayProperties;

import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.websocket.autoconfigure.servlet.WebSocketMessagingAutoConfiguration;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.system.NodeIdentity;
import org.springframework.beans.factory.BeanFactory;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.context.annotation.Bean;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.SubscribableChannel;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.simp.user.SimpUserRegistry;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.core.Ordered;
import org.springframework.core.annotation.Order;
import org.springframework.http.server.ServerHttpRequest;
import org.springframework.http.server.ServerHttpResponse;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.scheduling.concurrent.ThreadPoolTaskExecutor;
import org.springframework.web.socket.WebSocketHandler;
import org.springframework.web.socket.config.annotation.StompEndpointRegistry;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;
import org.springframework.web.socket.messaging.SubProtocolWebSocketHandler;
import org.springframework.web.socket.server.HandshakeInterceptor;

/**
 * Keeps a client that stops reading from holding up everyone else, in two ways:
 * <ul>
 * <li>the client inbound and outbound channels get their own named, bounded pools
 * ({@code stomp-relay-inbound-N}, {@code stomp-relay-outbound-N}); inbound frames run on them in
 * per-session order ({@link SessionLanes}), or on the thread that read them when nothing else of
 * their session is queued. Without this, Boot hands both
 * channels the only {@code AsyncTaskExecutor} in the context, the two-thread
 * {@code stompRelayScheduler}, and two clients whose socket buffers are full stop every session of
 * the node;</li>
 * <li>a blocking WebSocket write to one client gives up after twice
 * {@code stomp-relay.limits.send-time} (Tomcat's {@code BLOCKING_SEND_TIMEOUT}, set per session at
 * the handshake; its default is 20 s), so a delivery thread is never pinned longer than that. Twice,
 * so that Spring's own send-time check, which cuts and counts the session as a slow consumer, acts
 * first while messages keep coming; Tomcat's timeout is the backstop for a quiet one.</li>
 * </ul>
 * Ordered after Boot's own configurer, whose executor choice it replaces.
 */
@AutoConfiguration(after = WebSocketMessagingAutoConfiguration.class)
@Order(Ordered.LOWEST_PRECEDENCE)
class ClientChannelExecutors implements WebSocketMessageBrokerConfigurer {

	/** Tomcat reads this session user property, in milliseconds, for every blocking send. */
	static final String BLOCKING_SEND_TIMEOUT = "org.apache.tomcat.websocket.BLOCKING_SEND_TIMEOUT";

	private final SessionLanes inbound;

	private final ThreadPoolTaskExecutor outbound;

	ClientChannelExecutors(SessionLanes stompRelaySessionLanes, ThreadPoolTaskExecutor stompRelayOutboundExecutor) {
		this.inbound = stompRelaySessionLanes;
		this.outbound = stompRelayOutboundExecutor;
	}

	@Override
	public void configureClientInboundChannel(ChannelRegistration registration) {
		registration.executor(this.inbound);
	}

	/**
	 * {@link SessionLanes} keep each session's frames in order, so Spring's own
	 * {@code setPreserveReceiveOrder} is turned off: its per-session queue would wait for handling
	 * callbacks that a frame held for Redis delivers later (the session would hang), and it swallows
	 * the exceptions that turn refused frames into {@code ERROR} frames. Ordered last, this wins over
	 * an application that turned it on; the guarantee it asked for holds.
	 */
	@Override
	public void registerStompEndpoints(StompEndpointRegistry registry) {
		registry.setPreserveReceiveOrder(false);
	}

	@Override
	public void configureClientOutboundChannel(ChannelRegistration registration) {
		registration.executor(this.outbound);
	}

	@Bean
	static ThreadPoolTaskExecutor stompRelayInboundExecutor() {
		return channelExecutor("stomp-relay-inbound-");
	}

	/** Each session's frames in order, on {@code stompRelayInboundExecutor}'s threads. */
	@Bean
	static SessionLanes stompRelaySessionLanes(ThreadPoolTaskExecutor stompRelayInboundExecutor) {
		return new SessionLanes(stompRelayInboundExecutor);
	}

	@Bean
	static ThreadPoolTaskExecutor stompRelayOutboundExecutor() {
		return channelExecutor("stomp-relay-outbound-");
	}

	/**
	 * Admits every session into the {@link LocalSessionRegistry} on CONNECT, and holds it to the
	 * per-session limits when {@code stomp-relay.limits.enabled} is on; after authentication, before
	 * the destination rules.
	 */
	@Bean
	@Order(InboundOrder.LIMITS)
	static WebSocketMessageBrokerConfigurer sessionAdmissionConfigurer(SessionLimits sessionLimits) {
		return new WebSocketMessageBrokerConfigurer() {
			@Override
			public void configureClientInboundChannel(ChannelRegistration registration) {
				registration.interceptors(sessionLimits);
			}
		};
	}

	@Bean
	static SessionLimits sessionLimits(StompRelayProperties properties, MeterRegistry registry, NodeIdentity node,
			LocalSessionRegistry sessions) {
		return new SessionLimits(node.id(), properties.limits(), registry, sessions);
	}

	/**
	 * Timers: heart-beats, token expiry, the relay's housekeeping. It keeps taking tasks after the
	 * context starts closing (Spring's schedulers refuse them from then on by default), because the
	 * node's own stop runs after that moment and still needs it: sessions close during the drain,
	 * a Redis connection comes back while presence is being left. It stops with its own destruction,
	 * after every bean that uses it.
	 */
	@Bean
	static ThreadPoolTaskScheduler stompRelayScheduler() {
		ThreadPoolTaskScheduler scheduler = new ThreadPoolTaskScheduler();
		scheduler.setPoolSize(2);
		scheduler.setThreadNamePrefix("stomp-relay-scheduler-");
		scheduler.setRemoveOnCancelPolicy(true);
		scheduler.setAcceptTasksAfterContextClose(true);
		return scheduler;
	}

	@Bean
	static ClientErrors clientErrors(
			@Qualifier("clientOutboundChannel") ObjectProvider<MessageChannel> clientOutboundChannel) {
		return new ClientErrors(clientOutboundChannel);
	}

	/**
	 * Puts {@link ErrorThenCloseWebSocketHandler} in place of the plain
	 * {@code SubProtocolWebSocketHandler} that {@code @EnableWebSocketMessageBroker} defines, so an
	 * {@code ERROR} frame is never thrown away by the close that follows it. A handler the
	 * application defined itself (a subclass) is left alone.
	 */
	@Bean
	static BeanPostProcessor errorThenCloseWebSocketHandlerPostProcessor(BeanFactory beanFactory) {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessBeforeInitialization(Object bean, String beanName) {
				if (bean.getClass() != SubProtocolWebSocketHandler.class) {
					return bean;
				}
				ErrorThenCloseWebSocketHandler handler = new ErrorThenCloseWebSocketHandler(
						beanFactory.getBean("clientInboundChannel", MessageChannel.class),
						beanFactory.getBean("clientOutboundChannel", SubscribableChannel.class),
						beanFactory.getBean("stompRelaySessionLanes", SessionLanes.class));
				handler.setPhase(((SubProtocolWebSocketHandler) bean).getPhase());
				return handler;
			}
		};
	}

	@Bean
	static WaitingDeliveries stompRelayWaitingDeliveries(LocalSessionRegistry sessions) {
		return new WaitingDeliveries(sessions);
	}

	/**
	 * Counts each session's deliveries waiting in Spring's ordered queues, on the simple broker
	 * ({@link WaitingDeliveries}).
	 */
	@Bean
	static BeanPostProcessor waitingDeliveriesPostProcessor(BeanFactory beanFactory) {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessAfterInitialization(Object bean, String beanName) {
				if (bean instanceof SimpleBrokerMessageHandler broker) {
					beanFactory.getBean(WaitingDeliveries.class).install(broker);
				}
				return bean;
			}
		};
	}

	@Bean
	static UserRegistryJanitor userRegistryJanitor(ObjectProvider<SimpUserRegistry> userRegistry,
			ThreadPoolTaskScheduler stompRelayScheduler) {
		return new UserRegistryJanitor(userRegistry, stompRelayScheduler);
	}

	private static ThreadPoolTaskExecutor channelExecutor(String threadNamePrefix) {
		int threads = Math.max(8, 2 * Runtime.getRuntime().availableProcessors());
		ThreadPoolTaskExecutor executor = new ThreadPoolTaskExecutor();
		executor.setCorePoolSize(threads);
		executor.setMaxPoolSize(threads);
		executor.setAllowCoreThreadTimeOut(true);
		executor.setThreadNamePrefix(threadNamePrefix);
		// The session drain sends its ERROR frames through these on context close.
		executor.setAcceptTasksAfterContextClose(true);
		return executor;
	}

	/**
	 * Sets Tomcat's blocking send timeout of each new WebSocket session to the send-time limit.
	 */
	static final class BlockingSendTimeout implements HandshakeInterceptor {

		/** Boxed once: every session's attributes (and Tomcat's copy of them) share it. */
		private final Long millis;

		BlockingSendTimeout(long millis) {
			this.millis = millis;
		}

		@Override
		public boolean beforeHandshake(ServerHttpRequest request, ServerHttpResponse response,
				WebSocketHandler wsHandler, Map<String, Object> attributes) {
			attributes.put(BLOCKING_SEND_TIMEOUT, this.millis);
			return true;
		}

		@Override
		public void afterHandshake(ServerHttpRequest request, ServerHttpResponse response, WebSocketHandler wsHandler,
				Exception exception) {
		}

	}

}
