package io.stomprelay.presence;

import java.net.SocketAddress;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;

import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.relay.UserDisconnects;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.system.NodeIdentity;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.beans.BeansException;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.messaging.simp.user.DefaultUserDestinationResolver;
import org.springframework.messaging.simp.user.SimpUserRegistry;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;

/**
 * Wires the cluster presence with {@code stomp-relay.presence.enabled=true}: its own Redis
 * connection (on the relay's Redis), the {@link PresenceStore}, {@link ClusterPresence} (the
 * admission of every CONNECT, the heartbeat, the resync), {@link ClusterSessions}, and the
 * application's {@code SimpUserRegistry} made cluster-wide ({@link ClusterUserRegistry}) while
 * Spring's user-destination resolution keeps this node's registry. With the relay off there is one
 * node and no Redis: Spring's own registry already sees every session, and presence stays off.
 */
@AutoConfiguration(afterName = "io.stomprelay.relay.RelayConfiguration")
@ConditionalOnProperty(name = "stomp-relay.presence.enabled", havingValue = "true")
@ConditionalOnProperty(name = "stomp-relay.relay.enabled", havingValue = "true", matchIfMissing = true)
class PresenceConfiguration {

	/**
	 * The presence's own connection, from the relay's Redis client: a standalone connection, or a
	 * cluster connection that routes each command to the master of its key's slot.
	 */
	@Bean(destroyMethod = "close")
	StatefulConnection<String, String> presenceRedisConnection(ObjectProvider<AbstractRedisClient> relayRedisClient) {
		AbstractRedisClient client = relayRedisClient.getObject();
		return (client instanceof RedisClusterClient cluster) ? cluster.connect(StringCodec.UTF8)
				: ((RedisClient) client).connect(StringCodec.UTF8);
	}

	@Bean
	PresenceStore presenceStore(StatefulConnection<String, String> presenceRedisConnection, RelayChannels keys,
			NodeIdentity node, StompRelayProperties properties) {
		String instance = node.id() + "@" + Long.toString(ThreadLocalRandom.current().nextLong(1L << 40, 1L << 41), 36);
		RedisClusterAsyncCommands<String, String> commands = (presenceRedisConnection instanceof StatefulRedisClusterConnection<String, String> cluster)
				? cluster.async() : ((StatefulRedisConnection<String, String>) presenceRedisConnection).async();
		return new PresenceStore(commands, keys, instance, properties.presence().nodeTtl().toMillis());
	}

	@Bean
	ClusterPresence clusterPresence(NodeIdentity node, PresenceStore store, LocalSessionRegistry sessions,
			ThreadPoolTaskScheduler stompRelayScheduler, StompRelayProperties properties, MeterRegistry registry,
			ObjectProvider<AbstractRedisClient> relayRedisClient) {
		StompRelayProperties.Limits limits = properties.limits();
		ClusterPresence presence = new ClusterPresence(node.id(), store, sessions, stompRelayScheduler,
				properties.presence().nodeTtl(), limits.enabled() ? limits.maxSessionsPerUser() : Integer.MAX_VALUE,
				registry);
		sessions.addListener(presence);
		// every connection of the client, so a restarted shard of a Redis Cluster counts too
		relayRedisClient.getObject().addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress address) {
				presence.reconnected();
			}
		});
		return presence;
	}

	@Bean
	ClusterSessions clusterSessions(NodeIdentity node, PresenceStore store, LocalSessionRegistry sessions,
			UserDisconnects disconnects) {
		return new ClusterSessions(node.id(), store, sessions, disconnects);
	}

	/**
	 * Makes the {@code userRegistry} bean of Spring's message broker configuration cluster-wide, and
	 * gives the user-destination resolver back this node's own registry.
	 */
	@Bean
	static BeanPostProcessor clusterUserRegistryPostProcessor(ObjectProvider<ClusterSessions> cluster,
			ObjectProvider<StompRelayProperties> properties) {
		return new BeanPostProcessor() {
			@Override
			public Object postProcessAfterInitialization(Object bean, String beanName) throws BeansException {
				if (bean instanceof SimpUserRegistry registry && !(bean instanceof ClusterUserRegistry)
						&& "userRegistry".equals(beanName)) {
					Duration timeout = properties.getObject().redis().commandTimeout();
					return new ClusterUserRegistry(registry, cluster, timeout);
				}
				if (bean instanceof DefaultUserDestinationResolver resolver
						&& resolver.getSimpUserRegistry() instanceof ClusterUserRegistry clusterRegistry) {
					DefaultUserDestinationResolver local = new DefaultUserDestinationResolver(clusterRegistry.local());
					local.setUserDestinationPrefix(resolver.getDestinationPrefix());
					local.setRemoveLeadingSlash(resolver.isRemoveLeadingSlash());
					return local;
				}
				return bean;
			}
		};
	}

	/** The {@code presence} component of {@code /actuator/health}. */
	@Configuration(proxyBeanMethods = false)
	@ConditionalOnClass(HealthIndicator.class)
	static class PresenceHealth {

		/**
		 * {@code UP} while this node's sessions are in step with Redis, {@code DOWN} while its writes
		 * fail (the node's own view is still right; other nodes may miss its changes until Redis is
		 * back and the node has written its sessions again).
		 */
		@Bean
		HealthIndicator presenceHealthIndicator(ClusterPresence presence) {
			return () -> (presence.isFailing() ? Health.down() : Health.up())
				.withDetail("instance", presence.instance())
				.withDetail("lastHeartbeat", String.valueOf(presence.lastHeartbeat()))
				.build();
		}

	}

}
