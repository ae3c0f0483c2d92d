package io.stomprelay.history;

import java.time.Clock;
import java.time.Instant;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.connection.SessionLanes;
import io.stomprelay.relay.EnvelopeCodec;
import io.stomprelay.relay.RedisBackedRelayBus;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.relay.RelayMetrics;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.system.StompRelayProperties;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionOutcome;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.SpringBootCondition;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.type.AnnotatedTypeMetadata;
import org.springframework.messaging.MessageChannel;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;

/**
 * The message history, present when {@code stomp-relay.history.destinations} names at least one
 * destination and the relay is on: the {@link HistoryStore} and {@link MessageHistory} (used by the
 * relay to append and read), the {@link HistoryReceiver} (repairs what a node missed) and the
 * {@link SubscriptionRecovery} (resumes subscriptions; the relay's configuration puts it on the
 * client outbound channel and in the session interest).
 */
@AutoConfiguration
@ConditionalOnProperty(name = "stomp-relay.relay.enabled", havingValue = "true", matchIfMissing = true)
@Conditional(HistoryConfiguration.OnHistoryDestinations.class)
public class HistoryConfiguration {

	@Bean
	HistoryStore historyStore(RedisBackedRelayBus bus, StompRelayProperties properties) {
		return new HistoryStore(bus, properties.history().size(), properties.history().ttl());
	}

	@Bean
	MessageHistory messageHistory(HistoryStore store, RelayChannels channels, StompRelayProperties properties) {
		return new MessageHistory(properties.history().destinations(), channels, store,
				properties.history().maxRecovery());
	}

	@Bean
	HistoryMetrics historyMetrics(MeterRegistry registry) {
		return new HistoryMetrics(registry);
	}

	/**
	 * A failed read of missed messages is tried again on the relay's scheduler for up to
	 * {@code stomp-relay.history.recovery-timeout}.
	 */
	@Bean
	HistoryReceiver historyReceiver(MessageHistory history, EnvelopeCodec codec, RelayMetrics metrics,
			HistoryMetrics historyMetrics, StompRelayProperties properties,
			ThreadPoolTaskScheduler stompRelayScheduler) {
		return new HistoryReceiver(history, codec, metrics, historyMetrics, Clock.systemUTC(),
				properties.history().recoveryTimeout(),
				(wait, task) -> stompRelayScheduler.schedule(task, Instant.now().plus(wait)));
	}

	@Bean
	SubscriptionRecovery subscriptionRecovery(MessageHistory history, EnvelopeCodec codec, SessionLanes lanes,
			@Qualifier("clientOutboundChannel") ObjectProvider<MessageChannel> clientOutboundChannel,
			StompRelayProperties properties, RelayMetrics metrics, HistoryMetrics historyMetrics,
			LocalSessionRegistry sessions) {
		SubscriptionRecovery recovery = new SubscriptionRecovery(history, codec, lanes, clientOutboundChannel,
				properties.history().recoveryTimeout(), metrics, historyMetrics);
		sessions.addListener(recovery);
		return recovery;
	}

	/** Matches when {@code stomp-relay.history.destinations} is set and not empty, in any form. */
	static class OnHistoryDestinations extends SpringBootCondition {

		@Override
		public ConditionOutcome getMatchOutcome(ConditionContext context, AnnotatedTypeMetadata metadata) {
			boolean any = Binder.get(context.getEnvironment())
				.bind("stomp-relay.history.destinations", Bindable.listOf(String.class))
				.map(destinations -> !destinations.isEmpty())
				.orElse(false);
			return any ? ConditionOutcome.match("history destinations are set")
					: ConditionOutcome.noMatch("no history destinations");
		}

	}

}
