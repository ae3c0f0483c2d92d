package io.stomprelay.connection;

import java.util.List;
import java.util.Map;

import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.broker.OrderedMessageChannelDecorator;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.simp.broker.SubscriptionRegistry;
import org.springframework.messaging.support.AbstractMessageChannel;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.util.MultiValueMap;

/**
 * Counts, per session, the messages the simple broker has handed to a session of this node and
 * that are still waiting in Spring's ordered queue for it ({@link LocalSession#waitingDeliveries()},
 * summed in the gauge {@code stomp.relay.outbound.waiting}). With {@code setPreservePublishOrder}
 * each session's messages wait in such a queue in front of the outbound pool, one released at a
 * time, and those queues have no bound: a node offered more deliveries than its CPU can write keeps
 * them on its heap, where no other figure shows them (the relay's latency metrics end when a
 * message is handed to the broker; nothing is slow to read, so the slow-consumer limits do not act).
 *
 * <p>Two places, installed together on the broker ({@link #install}): its
 * {@link SubscriptionRegistry}, decorated, counts each session's deliveries up when it finds a
 * message's subscribers (one per subscription, as the broker sends them), and the first interceptor
 * of its outbound channel counts one down when the ordered queue releases it into the channel,
 * before any other interceptor may drop it (an {@code authenticated} message to an anonymous
 * session). A session's count ends with the session, so a count that a race leaves behind (a
 * message found for a session the broker has just dropped) goes with it.
 */
public final class WaitingDeliveries implements ChannelInterceptor {

	private final LocalSessionRegistry sessions;

	public WaitingDeliveries(LocalSessionRegistry sessions) {
		this.sessions = sessions;
	}

	/**
	 * Counts the broker's deliveries from now on: its subscription registry is decorated and this
	 * becomes the first interceptor of its outbound channel. Nothing is counted when the broker does
	 * not deliver in publish order (there is no such queue, and nothing would count down) or when
	 * its channel cannot take an interceptor first (not one of Spring's own channels).
	 */
	public void install(SimpleBrokerMessageHandler broker) {
		if (!broker.isPreservePublishOrder()
				|| !(broker.getClientOutboundChannel() instanceof AbstractMessageChannel channel)
				|| broker.getSubscriptionRegistry() instanceof CountingRegistry) {
			return;
		}
		channel.addInterceptor(0, this);
		broker.setSubscriptionRegistry(new CountingRegistry(broker.getSubscriptionRegistry()));
	}

	/**
	 * Counts a message off its session as Spring's ordered queue releases it, if it is one the
	 * broker delivered in publish order (the others, such as replies, receipts and heart-beats, were
	 * never counted).
	 */
	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		if (OrderedMessageChannelDecorator.getNextMessageTask(message) != null
				&& SimpMessageHeaderAccessor.getMessageType(message.getHeaders()) == SimpMessageType.MESSAGE) {
			LocalSession session = this.sessions.get(SimpMessageHeaderAccessor.getSessionId(message.getHeaders()));
			if (session != null) {
				session.deliveryDequeued();
			}
		}
		return message;
	}

	private final class CountingRegistry implements SubscriptionRegistry {

		private final SubscriptionRegistry broker;

		CountingRegistry(SubscriptionRegistry broker) {
			this.broker = broker;
		}

		@Override
		public MultiValueMap<String, String> findSubscriptions(Message<?> message) {
			MultiValueMap<String, String> subscribers = this.broker.findSubscriptions(message);
			for (Map.Entry<String, List<String>> subscriber : subscribers.entrySet()) {
				LocalSession session = WaitingDeliveries.this.sessions.get(subscriber.getKey());
				if (session != null) {
					session.deliveriesQueued(subscriber.getValue().size());
				}
			}
			return subscribers;
		}

		@Override
		public void registerSubscription(Message<?> subscribeMessage) {
			this.broker.registerSubscription(subscribeMessage);
		}

		@Override
		public void unregisterSubscription(Message<?> unsubscribeMessage) {
			this.broker.unregisterSubscription(unsubscribeMessage);
		}

		@Override
		public void unregisterAllSubscriptions(String sessionId) {
			this.broker.unregisterAllSubscriptions(sessionId);
		}

		@Override
		public String toString() {
			return "counting deliveries of " + this.broker;
		}

	}

}
