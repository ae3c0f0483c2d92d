package io.stomprelay.connection;

import java.util.List;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.support.ExecutorSubscribableChannel;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Where {@link WaitingDeliveries} goes in: first on the broker's outbound channel and around its
 * subscription registry, once, and only on a broker that delivers in publish order (without the
 * ordered queues nothing would ever count down). The counting itself is {@code WaitingDeliveriesIT}.
 */
class WaitingDeliveriesTest {

	private final WaitingDeliveries waiting = new WaitingDeliveries(new LocalSessionRegistry(new SimpleMeterRegistry()));

	@Test
	void goesFirstOnTheOutboundChannelAndAroundTheRegistryOfAnOrderedBroker() {
		SimpleBrokerMessageHandler broker = broker(true);
		ExecutorSubscribableChannel outbound = (ExecutorSubscribableChannel) broker.getClientOutboundChannel();
		Object registry = broker.getSubscriptionRegistry();

		this.waiting.install(broker);
		this.waiting.install(broker);

		assertThat(outbound.getInterceptors()).first().isSameAs(this.waiting);
		assertThat(outbound.getInterceptors()).filteredOn(this.waiting::equals).hasSize(1);
		assertThat(broker.getSubscriptionRegistry()).isNotSameAs(registry);
		assertThat(broker.getSubscriptionRegistry().toString()).isEqualTo("counting deliveries of " + registry);
	}

	@Test
	void leavesABrokerThatDoesNotKeepPublishOrderAlone() {
		SimpleBrokerMessageHandler broker = broker(false);
		Object registry = broker.getSubscriptionRegistry();

		this.waiting.install(broker);

		assertThat(((ExecutorSubscribableChannel) broker.getClientOutboundChannel()).getInterceptors())
			.doesNotContain(this.waiting);
		assertThat(broker.getSubscriptionRegistry()).isSameAs(registry);
	}

	private static SimpleBrokerMessageHandler broker(boolean preservePublishOrder) {
		SimpleBrokerMessageHandler broker = new SimpleBrokerMessageHandler(new ExecutorSubscribableChannel(),
				new ExecutorSubscribableChannel(), new ExecutorSubscribableChannel(), List.of("/topic"));
		broker.setPreservePublishOrder(preservePublishOrder);
		return broker;
	}

}
