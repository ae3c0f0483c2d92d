package io.stomprelay.connection;

import org.springframework.core.Ordered;

/**
 * The order of the starter's {@code WebSocketMessageBrokerConfigurer}s that add interceptors to the
 * client inbound channel, so a frame is first authenticated, then held to the limits, then its
 * destination syntax checked, and only then authorized by Spring Security (whose configurer is
 * ordered at {@code HIGHEST_PRECEDENCE + 100}).
 */
final class InboundOrder {

	static final int AUTHENTICATION = Ordered.HIGHEST_PRECEDENCE + 97;

	static final int LIMITS = Ordered.HIGHEST_PRECEDENCE + 98;

	static final int DESTINATIONS = Ordered.HIGHEST_PRECEDENCE + 99;

	private InboundOrder() {
	}

}
