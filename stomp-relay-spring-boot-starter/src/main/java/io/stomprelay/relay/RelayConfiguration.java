package io.stomprelay.relay;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.SslOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.event.DefaultEventPublisherOptions;
import io.lettuce.core.metrics.CommandLatencyRecorder;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.tracing.Tracing;
import io.lettuce.core.resource.Delay;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.connection.ClientErrors;
import io.stomprelay.connection.SessionLanes;
import io.stomprelay.history.HistoryReceiver;
import io.stomprelay.history.MessageHistory;
import io.stomprelay.history.SubscriptionRecovery;
import io.stomprelay.session.ConnectAdmission;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.system.NodeIdentity;
import io.stomprelay.system.StartupCheckException;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.data.redis.autoconfigure.DataRedisAutoConfiguration;
import org.springframework.boot.data.redis.autoconfigure.DataRedisConnectionDetails;
import org.springframework.boot.data.redis.autoconfigure.DataRedisProperties;
import org.springframework.boot.ssl.SslBundle;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.simp.stomp.StompBrokerRelayMessageHandler;
import org.springframework.messaging.simp.config.ChannelRegistration;
import org.springframework.messaging.simp.config.MessageBrokerRegistry;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.util.AlternativeJdkIdGenerator;
import org.springframework.util.IdGenerator;
import org.springframework.web.socket.config.annotation.WebSocketMessageBrokerConfigurer;

/**
 * Wires the relay: the interceptor on the broker channel, the Redis bus and its delivery lanes,
 * channel interest, the audience filter on the client outbound channel, and the
 * {@link ClusterMessagingTemplate}. With {@code stomp-relay.relay.enabled=false} the node runs
 * alone with Spring's simple broker and needs no Redis.
 */
@AutoConfiguration(after = DataRedisAutoConfiguration.class)
class RelayConfiguration {

	private static final String RELAY_ENABLED = "stomp-relay.relay.enabled";

	@Bean
	RelayMetrics relayMetrics(MeterRegistry registry, NodeIdentity node) {
		return new RelayMetrics(registry, node.id());
	}

	@Bean
	IdGenerator relayIdGenerator() {
		return new AlternativeJdkIdGenerator();
	}

	@Bean
	@ConditionalOnMissingBean
	RelayChannels relayChannels(StompRelayProperties properties) {
		return new RelayChannels(properties.redis().channelPrefix());
	}

	@Bean
	@ConditionalOnMissingBean
	EnvelopeCodec envelopeCodec(StompRelayProperties properties) {
		return new EnvelopeCodec((int) properties.relay().maxEnvelopeSize().toBytes());
	}

	@Bean
	SessionInterest sessionInterest(RelayChannels channels, ObjectProvider<ChannelInterest> interest,
			ObjectProvider<RelayBus> bus, StompRelayProperties properties,
			@Qualifier("clientOutboundChannel") ObjectProvider<MessageChannel> clientOutboundChannel,
			SessionLanes lanes, MeterRegistry registry, NodeIdentity node, RelayMetrics metrics,
			LocalSessionRegistry sessions, ObjectProvider<ConnectAdmission> admission, ClientErrors clientErrors,
			ObjectProvider<SubscriptionRecovery> recovery) {
		SessionInterest sessionInterest = new SessionInterest(channels, interest.getIfAvailable(),
				bus.getIfAvailable(), properties.redis().subscribeTimeout(), clientOutboundChannel, lanes, registry,
				node.id(), metrics, properties.relay().maxChannels(), sessions,
				admission.getIfAvailable(() -> ConnectAdmission.LOCAL), clientErrors, recovery.getIfAvailable());
		sessions.addListener(sessionInterest);
		return sessionInterest;
	}


	@Bean
	static RelayApplicability relayApplicability(ObjectProvider<SimpleBrokerMessageHandler> simpleBroker,
			ObjectProvider<StompBrokerRelayMessageHandler> brokerRelay, ObjectProvider<ClusterRelayInterceptor> relay) {
		return new RelayApplicability(simpleBroker, brokerRelay, relay);
	}

	@Bean
	LocalDeliveryMeter localDeliveryMeter(RelayMetrics metrics) {
		return new LocalDeliveryMeter(metrics);
	}

	@Bean
	AudienceFilter audienceFilter(SessionInterest sessions) {
		return new AudienceFilter(sessions);
	}

	@Bean
	UserDisconnects userDisconnects(NodeIdentity node, LocalSessionRegistry sessions, ClientErrors clientErrors,
			ObjectProvider<ClusterRelayInterceptor> relay, IdGenerator ids, MeterRegistry registry) {
		return new UserDisconnects(node.id(), sessions, clientErrors, relay, ids, registry);
	}

	@Bean
	@ConditionalOnMissingBean
	ClusterMessagingTemplate clusterMessagingTemplate(SimpMessagingTemplate brokerMessagingTemplate, IdGenerator ids) {
		return new ClusterMessagingTemplate(brokerMessagingTemplate, ids);
	}

	@Bean
	WebSocketMessageBrokerConfigurer relayChannelConfigurer(ObjectProvider<ClusterRelayInterceptor> relay,
			ObjectProvider<AudienceFilter> audience, ObjectProvider<SessionInterest> sessions,
			ObjectProvider<LocalDeliveryMeter> deliveries, ObjectProvider<SubscriptionRecovery> recovery) {
		return new WebSocketMessageBrokerConfigurer() {
			@Override
			public void configureMessageBroker(MessageBrokerRegistry registry) {
				relay.ifAvailable(registry.configureBrokerChannel()::interceptors);
				// each session gets the messages published to it in the order they were published
				registry.setPreservePublishOrder(true);
			}

			@Override
			public void configureClientInboundChannel(ChannelRegistration registration) {
				registration.interceptors(sessions.getObject());
			}

			@Override
			public void configureClientOutboundChannel(ChannelRegistration registration) {
				registration.interceptors(audience.getObject());
				recovery.ifAvailable(registration::interceptors);
				registration.interceptors(deliveries.getObject());
			}
		};
	}

	/**
	 * The {@code relay} component of {@code /actuator/health}, where the application has Boot's health
	 * support.
	 */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(HealthIndicator.class)
	static class RelayHealth {

		@Bean
		RelayHealthIndicator relayHealthIndicator(NodeIdentity node, ObjectProvider<RelayBus> bus,
				ObjectProvider<ChannelInterest> interest, ObjectProvider<DeliveryLanes> lanes) {
			return new RelayHealthIndicator(node.id(), bus.getIfAvailable(), interest.getIfAvailable(),
					lanes.getIfAvailable());
		}

	}

	/**
	 * The Redis side, present while the relay is enabled (the default).
	 */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnProperty(name = RELAY_ENABLED, havingValue = "true", matchIfMissing = true)
	static class RedisRelay {

		/** TCP keep-alive on the relay's connections: a silent peer is found in about 5 + 3 x 2 s. */
		private static final Duration KEEP_ALIVE_IDLE = Duration.ofSeconds(5);

		private static final Duration KEEP_ALIVE_INTERVAL = Duration.ofSeconds(2);

		private static final int KEEP_ALIVE_PROBES = 3;

		/** Least time between two adaptive cluster topology refreshes. */
		private static final Duration ADAPTIVE_REFRESH_SPACING = Duration.ofSeconds(1);

		/** Failed reconnects to one cluster node that trigger a topology refresh. */
		private static final int ADAPTIVE_REFRESH_RECONNECT_ATTEMPTS = 3;

		/** How long a channel's publish sequence outlives its last publish. */
		private static final Duration SEQUENCE_IDLE = Duration.ofMinutes(1);

		/**
		 * The relay's own Lettuce client: a {@link RedisClusterClient} with
		 * {@code spring.data.redis.cluster.nodes} (topology refreshed periodically, every
		 * {@code stomp-relay.redis.topology-refresh-interval}, and on every adaptive trigger: a
		 * MOVED or ASK redirect, a node that keeps failing to reconnect), else a {@link RedisClient}
		 * on a standalone Redis or on the master its Sentinels name.
		 */
		@Bean(destroyMethod = "")
		AbstractRedisClient relayRedisClient(DataRedisConnectionDetails details, ObjectProvider<ClientResources> resources,
				ObjectProvider<DataRedisProperties> redisProperties, StompRelayProperties properties, NodeIdentity node) {
			ClientResources clientResources = reconnectingResources(resources.getIfAvailable(),
					properties.redis().maxReconnectDelay());
			Duration timeout = properties.redis().commandTimeout();
			if (details.getCluster() != null) {
				List<RedisURI> seeds = clusterUris(details, redisProperties.getIfAvailable());
				// CLIENT LIST names the node that holds each connection
				seeds.forEach(seed -> seed.setClientName("stomp-relay:" + node.id()));
				RedisClusterClient client = RedisClusterClient.create(clientResources, seeds);
				ClusterClientOptions.Builder options = ClusterClientOptions.builder()
					.topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
						.enablePeriodicRefresh(properties.redis().topologyRefreshInterval())
						.enableAllAdaptiveRefreshTriggers()
						.adaptiveRefreshTriggersTimeout(ADAPTIVE_REFRESH_SPACING)
						.refreshTriggersReconnectAttempts(ADAPTIVE_REFRESH_RECONNECT_ATTEMPTS)
						.dynamicRefreshSources(true)
						.closeStaleConnections(true)
						.build());
				client.setOptions(relayOptions(options, details, timeout).build());
				return client;
			}
			RedisURI uri = redisUri(details, redisProperties.getIfAvailable());
			uri.setClientName("stomp-relay:" + node.id());
			RedisClient client = RedisClient.create(clientResources, uri);
			client.setOptions(relayOptions(ClientOptions.builder(), details, timeout).build());
			return client;
		}

		/**
		 * What every relay connection does, on any kind of Redis: reconnects by itself, rejects commands
		 * while disconnected (a publish never waits for Redis), TCP keep-alive, a timeout on every
		 * command, TLS from Boot's SSL bundle.
		 */
		private static <B extends ClientOptions.Builder> B relayOptions(B options, DataRedisConnectionDetails details,
				Duration timeout) {
			options.autoReconnect(true);
			options.disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS);
			options.requestQueueSize(100_000);
			options.socketOptions(SocketOptions.builder()
				.connectTimeout(timeout)
				.keepAlive(SocketOptions.KeepAliveOptions.builder()
					.enable()
					.idle(KEEP_ALIVE_IDLE)
					.interval(KEEP_ALIVE_INTERVAL)
					.count(KEEP_ALIVE_PROBES)
					.build())
				.build());
			options.timeoutOptions(TimeoutOptions.enabled(timeout));
			SslBundle ssl = details.getSslBundle();
			if (ssl != null) {
				options.sslOptions(SslOptions.builder()
					.keyManager(ssl.getManagers().getKeyManagerFactory())
					.trustManager(ssl.getManagers().getTrustManagerFactory())
					.build());
			}
			return options;
		}

		@Bean
		@ConditionalOnMissingBean
		DeliveryLanes deliveryLanes(StompRelayProperties properties) {
			int lanes = properties.relay().deliveryLanes();
			if (lanes <= 0) {
				lanes = Math.max(2, Runtime.getRuntime().availableProcessors());
			}
			return new DeliveryLanes(lanes, properties.relay().deliveryQueueCapacity());
		}

		@Bean
		ReceiveGaps receiveGaps() {
			return new ReceiveGaps();
		}

		@Bean
		PublishSequences publishSequences(ThreadPoolTaskScheduler stompRelayScheduler) {
			PublishSequences sequences = new PublishSequences(SEQUENCE_IDLE);
			stompRelayScheduler.scheduleAtFixedRate(sequences::retireIdle, SEQUENCE_IDLE.dividedBy(2));
			return sequences;
		}

		@Bean
		RemoteDelivery remoteDelivery(NodeIdentity node, EnvelopeCodec codec, DeliveryLanes lanes,
				ObjectProvider<SimpMessagingTemplate> brokerMessagingTemplate, RelayMetrics metrics, ReceiveGaps gaps,
				ObjectProvider<UserDisconnects> disconnects, ObjectProvider<HistoryReceiver> history) {
			return new RemoteDelivery(node.id(), codec, lanes, brokerMessagingTemplate, metrics, gaps, disconnects,
					history);
		}

		@Bean
		RedisBackedRelayBus relayBus(AbstractRedisClient relayRedisClient, DataRedisConnectionDetails details,
				NodeIdentity node, RemoteDelivery delivery, MeterRegistry registry, RelayChannels channels,
				StompRelayProperties properties, ObjectProvider<ClientResources> resources) {
			boolean ownsResources = resources.getIfAvailable() == null;
			RedisBackedRelayBus bus = (relayRedisClient instanceof RedisClusterClient cluster)
					? new RedisClusterRelayBus(cluster, location(details), node.id(), delivery, ownsResources)
					: new RedisRelayBus((RedisClient) relayRedisClient, location(details), node.id(), delivery,
							ownsResources);
			try {
				bus.claimNodeId(node.id(), channels.nodeChannel(node.id()),
						properties.redis().subscribeTimeout().plusSeconds(3));
			}
			catch (RuntimeException ex) {
				bus.destroy();
				throw ex;
			}
			bus.startPings(properties.redis().pingInterval());
			Gauge.builder("stomp.relay.redis.connected", bus, b -> b.isConnected() ? 1 : 0)
				.description("1 while the relay's Redis connections are up, 0 while they are not")
				.register(registry);
			return bus;
		}

		@Bean
		ChannelInterest channelInterest(RedisBackedRelayBus bus, ReceiveGaps gaps, MeterRegistry registry,
				ObjectProvider<HistoryReceiver> history) {
			List<ChannelTracker> trackers = new java.util.ArrayList<>(List.of(gaps));
			history.ifAvailable(trackers::add);
			ChannelInterest interest = new ChannelInterest(bus, trackers);
			bus.setWantedChannels(interest::channels);
			Gauge.builder("stomp.relay.redis.subscriptions", interest, ChannelInterest::size)
				.description("Relay channels this node is subscribed to")
				.register(registry);
			return interest;
		}

		@Bean
		ClusterRelayInterceptor clusterRelayInterceptor(NodeIdentity node, RelayChannels channels, EnvelopeCodec codec,
				RelayBus bus, RelayMetrics metrics, IdGenerator ids, SessionInterest sessions,
				PublishSequences sequences, ObjectProvider<MessageHistory> history) {
			return new ClusterRelayInterceptor(node.id(), channels, codec, bus, metrics, ids, sessions, sequences,
					history.getIfAvailable());
		}

		/**
		 * Lettuce's default backoff grows to 30 s between attempts, so after a long outage a node
		 * could stay cut off for half a minute after Redis is back. Attempts here start at 50 ms and
		 * are capped at {@code stomp-relay.redis.max-reconnect-delay}. Built from Boot's shared
		 * resources when there are some (sharing their event loops); the bus shuts it down.
		 * <p>Command tracing is off for the relay's connections: Boot's resources carry Micrometer
		 * observation for every Redis command, and a profile at 10,000 deliveries/s showed that
		 * per-PUBLISH observation among the largest costs on the Redis I/O thread. The relay
		 * measures its own publish latency ({@code stomp_relay_publish_latency_seconds}). For the same
		 * reason Lettuce's own command latency collector is off: a profile at the peak found it
		 * creating a latency key and recording a histogram for every PUBLISH reply.
		 * <p>Resources built from Boot's share its event loops, executor and timer, which Boot shuts
		 * down; the relay shuts down only resources it built alone.
		 */
		private static ClientResources reconnectingResources(ClientResources shared, Duration maxDelay) {
			Duration floor = Duration.ofMillis(Math.min(50, maxDelay.toMillis()));
			Supplier<Delay> delay = () -> Delay.exponential(floor, maxDelay, 2, TimeUnit.MILLISECONDS);
			ClientResources.Builder builder = (shared != null) ? shared.mutate() : ClientResources.builder();
			return builder.reconnectDelay(delay)
				.tracing(Tracing.disabled())
				.commandLatencyRecorder(CommandLatencyRecorder.disabled())
				.commandLatencyPublisherOptions(DefaultEventPublisherOptions.disabled())
				.build();
		}

		/**
		 * The relay's Redis, from Boot's connection details: a standalone Redis, or the master a set of
		 * Sentinels names ({@code spring.data.redis.sentinel.master} / {@code .nodes}; Lettuce asks
		 * them again on every reconnect, so the relay follows the master across a failover). TLS when
		 * an SSL bundle is configured ({@code spring.data.redis.ssl.*}) or the URL is {@code rediss://}.
		 */
		static RedisURI redisUri(DataRedisConnectionDetails details, DataRedisProperties properties) {
			if (details.getMasterReplica() != null) {
				throw new StartupCheckException("the relay does not support a static master/replica list.",
						"Point spring.data.redis.url (or host/port) at a standalone Redis, spring.data.redis.sentinel.* "
								+ "at a Sentinel set-up, or spring.data.redis.cluster.nodes at a Redis Cluster.");
			}
			boolean tls = isTls(details, properties);
			DataRedisConnectionDetails.Sentinel sentinel = details.getSentinel();
			RedisURI.Builder uri;
			if (sentinel != null) {
				uri = RedisURI.builder().withSentinelMasterId(sentinel.getMaster());
				for (DataRedisConnectionDetails.Node node : sentinel.getNodes()) {
					uri.withSentinel(sentinelUri(node, sentinel, tls));
				}
				uri.withDatabase(sentinel.getDatabase()).withSsl(tls);
			}
			else {
				DataRedisConnectionDetails.Standalone standalone = details.getStandalone();
				uri = RedisURI.builder()
					.withHost(standalone.getHost())
					.withPort(standalone.getPort())
					.withDatabase(standalone.getDatabase())
					.withSsl(tls);
			}
			authenticate(uri, details);
			return uri.build();
		}

		/** The cluster's seed nodes ({@code spring.data.redis.cluster.nodes}), with Boot's credentials and TLS. */
		static List<RedisURI> clusterUris(DataRedisConnectionDetails details, DataRedisProperties properties) {
			boolean tls = isTls(details, properties);
			return details.getCluster().getNodes().stream().map(node -> {
				RedisURI.Builder uri = RedisURI.builder().withHost(node.host()).withPort(node.port()).withSsl(tls);
				authenticate(uri, details);
				return uri.build();
			}).collect(java.util.stream.Collectors.toCollection(java.util.ArrayList::new));
		}

		private static RedisURI sentinelUri(DataRedisConnectionDetails.Node node,
				DataRedisConnectionDetails.Sentinel sentinel, boolean tls) {
			RedisURI.Builder uri = RedisURI.builder().withHost(node.host()).withPort(node.port()).withSsl(tls);
			if (sentinel.getPassword() != null) {
				if (sentinel.getUsername() != null) {
					uri.withAuthentication(sentinel.getUsername(), sentinel.getPassword().toCharArray());
				}
				else {
					uri.withPassword(sentinel.getPassword().toCharArray());
				}
			}
			return uri.build();
		}

		private static void authenticate(RedisURI.Builder uri, DataRedisConnectionDetails details) {
			if (details.getPassword() != null) {
				if (details.getUsername() != null) {
					uri.withAuthentication(details.getUsername(), details.getPassword().toCharArray());
				}
				else {
					uri.withPassword(details.getPassword().toCharArray());
				}
			}
		}

		private static boolean isTls(DataRedisConnectionDetails details, DataRedisProperties properties) {
			return details.getSslBundle() != null
					|| (properties != null && properties.getUrl() != null && properties.getUrl().startsWith("rediss:"));
		}

		private static String location(DataRedisConnectionDetails details) {
			if (details.getCluster() != null) {
				return nodes(details.getCluster().getNodes());
			}
			if (details.getSentinel() != null) {
				return "master " + details.getSentinel().getMaster() + " of the sentinels "
						+ nodes(details.getSentinel().getNodes());
			}
			DataRedisConnectionDetails.Standalone standalone = details.getStandalone();
			return standalone.getHost() + ":" + standalone.getPort();
		}

		private static String nodes(List<DataRedisConnectionDetails.Node> nodes) {
			return String.join(",", nodes.stream().map(node -> node.host() + ":" + node.port()).toList());
		}

	}

}
