package io.stomprelay.relay;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.simp.stomp.StompBrokerRelayMessageHandler;

/**
 * Checks, once the application has started, that it has what the relay attaches to: Spring's
 * simple broker. An application that relays to an external broker ({@code enableStompBrokerRelay},
 * whose broker already connects the nodes) or enables no simple broker is told so in one sentence,
 * and the relay stays out of its way: nothing is published to Redis.
 */
public class RelayApplicability implements SmartInitializingSingleton {

	private static final Logger logger = LoggerFactory.getLogger(RelayApplicability.class);

	private final ObjectProvider<SimpleBrokerMessageHandler> simpleBroker;

	private final ObjectProvider<StompBrokerRelayMessageHandler> brokerRelay;

	private final ObjectProvider<ClusterRelayInterceptor> relay;

	public RelayApplicability(ObjectProvider<SimpleBrokerMessageHandler> simpleBroker,
			ObjectProvider<StompBrokerRelayMessageHandler> brokerRelay, ObjectProvider<ClusterRelayInterceptor> relay) {
		this.simpleBroker = simpleBroker;
		this.brokerRelay = brokerRelay;
		this.relay = relay;
	}

	@Override
	public void afterSingletonsInstantiated() {
		if (this.simpleBroker.getIfAvailable() != null) {
			return;
		}
		String why = (this.brokerRelay.getIfAvailable() != null)
				? "it relays to an external broker (enableStompBrokerRelay), which already connects the nodes"
				: "it enables no simple broker (enableSimpleBroker)";
		logger.warn("stomp-relay does not apply to this application: {}; nothing is relayed through Redis.", why);
		this.relay.ifAvailable(ClusterRelayInterceptor::deactivate);
	}

}
