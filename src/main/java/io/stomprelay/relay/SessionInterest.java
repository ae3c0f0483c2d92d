package io.stomprelay.relay;

import java.security.Principal;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.event.EventListener;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.MessageHandler;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.broker.SimpleBrokerMessageHandler;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.simp.user.UserDestinationMessageHandler;
import org.springframework.messaging.support.ExecutorChannelInterceptor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;

/**
 * Follows this node's STOMP sessions and turns them into relay interest: an authenticated session
 * holds its user's channel, a subscription to {@code /topic/...} holds that destination's channel,
 * and both are released when the session unsubscribes or ends. It also answers whether a session is
 * authenticated, for authenticated-only delivery.
 * <p>It sits on the client inbound channel and acts just before the local broker handles a frame, so
 * it only sees frames that passed authentication and authorization. A new channel subscription is
 * awaited (bounded by {@code stomp-relay.redis.subscribe-timeout}) before the broker answers, so once
 * a client holds its {@code CONNECTED} frame, or the {@code RECEIPT} of a {@code SUBSCRIBE} that asked
 * for one, messages published anywhere in the cluster reach it. (Spring's simple broker sends no
 * receipts for SUBSCRIBE; this class does.)
 * <p>It writes the one log line per session open and close, with the node id and the session id
 * (never a user name, token or payload), and counts sessions Spring closed because the client did
 * not read fast enough ({@link CloseStatus#SESSION_NOT_RELIABLE}, after
 * {@code stomp-relay.limits.send-time} or {@code send-buffer} was exceeded).
 */
public class SessionInterest implements ExecutorChannelInterceptor {

	private static final Logger logger = LoggerFactory.getLogger(SessionInterest.class);

	private final ConcurrentHashMap<String, Session> sessions = new ConcurrentHashMap<>();

	private final RelayChannels channels;

	private final ChannelInterest interest;

	private final RelayBus bus;

	private final Duration subscribeTimeout;

	private final ObjectProvider<MessageChannel> clientOutboundChannel;

	private final String nodeId;

	private final RelayMetrics metrics;

	/**
	 * @param interest the channel reference counts, or {@code null} when the relay is off
	 * @param bus the relay bus, or {@code null} when the relay is off
	 */
	public SessionInterest(RelayChannels channels, ChannelInterest interest, RelayBus bus, Duration subscribeTimeout,
			ObjectProvider<MessageChannel> clientOutboundChannel, MeterRegistry registry, String nodeId,
			RelayMetrics metrics) {
		this.nodeId = nodeId;
		this.metrics = metrics;
		this.channels = channels;
		this.interest = interest;
		this.bus = bus;
		this.subscribeTimeout = subscribeTimeout;
		this.clientOutboundChannel = clientOutboundChannel;
		Gauge.builder("stomp.relay.sessions", this, s -> s.count(true))
			.description("Open STOMP sessions on this node").tag("kind", "authenticated").register(registry);
		Gauge.builder("stomp.relay.sessions", this, s -> s.count(false))
			.description("Open STOMP sessions on this node").tag("kind", "anonymous").register(registry);
	}

	/** @return whether the session exists and was authenticated with a token */
	public boolean isAuthenticated(String sessionId) {
		Session session = (sessionId != null) ? this.sessions.get(sessionId) : null;
		return session != null && session.user != null;
	}

	private long count(boolean authenticated) {
		return this.sessions.values().stream().filter(s -> (s.user != null) == authenticated).count();
	}

	@Override
	public Message<?> beforeHandle(Message<?> message, MessageChannel channel, MessageHandler handler) {
		if (!(handler instanceof SimpleBrokerMessageHandler)) {
			return message;
		}
		MessageHeaders headers = message.getHeaders();
		SimpMessageType type = SimpMessageHeaderAccessor.getMessageType(headers);
		String sessionId = SimpMessageHeaderAccessor.getSessionId(headers);
		if (sessionId == null) {
			return message;
		}
		if (type == SimpMessageType.CONNECT) {
			connected(sessionId, SimpMessageHeaderAccessor.getUser(headers));
		}
		else if (type == SimpMessageType.SUBSCRIBE) {
			subscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers),
					SimpMessageHeaderAccessor.getDestination(headers));
		}
		else if (type == SimpMessageType.UNSUBSCRIBE) {
			unsubscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers));
		}
		return message;
	}

	@Override
	public void afterMessageHandled(Message<?> message, MessageChannel channel, MessageHandler handler, Exception ex) {
		MessageHeaders headers = message.getHeaders();
		if (ex != null || SimpMessageHeaderAccessor.getMessageType(headers) != SimpMessageType.SUBSCRIBE) {
			return;
		}
		String destination = SimpMessageHeaderAccessor.getDestination(headers);
		boolean userDestination = destination != null && destination.startsWith(DestinationKinds.USER_PREFIX);
		boolean registeredBy = userDestination ? handler instanceof UserDestinationMessageHandler
				: handler instanceof SimpleBrokerMessageHandler;
		StompHeaderAccessor stomp = StompHeaderAccessor.wrap(message);
		String receipt = stomp.getReceipt();
		if (registeredBy && receipt != null) {
			StompHeaderAccessor answer = StompHeaderAccessor.create(StompCommand.RECEIPT);
			answer.setReceiptId(receipt);
			answer.setSessionId(stomp.getSessionId());
			this.clientOutboundChannel.getObject()
				.send(MessageBuilder.createMessage(new byte[0], answer.getMessageHeaders()));
		}
	}

	private void connected(String sessionId, Principal user) {
		Session session = new Session((user != null) ? user.getName() : null);
		if (this.sessions.putIfAbsent(sessionId, session) != null) {
			return;
		}
		logger.info("Node {}: session {} opened ({})", this.nodeId, sessionId,
				(session.user != null) ? "authenticated" : "anonymous");
		if (session.user != null && this.interest != null) {
			await(this.interest.acquire(this.channels.userChannel(session.user)), "user channel");
		}
	}

	private void subscribed(String sessionId, String subscriptionId, String destination) {
		Session session = this.sessions.get(sessionId);
		if (this.interest == null || session == null || destination == null || subscriptionId == null
				|| !destination.startsWith(DestinationKinds.TOPIC_PREFIX)) {
			return;
		}
		String channel = this.channels.destinationChannel(destination);
		CompletableFuture<Void> subscribed;
		synchronized (session) {
			if (session.closed) {
				return;
			}
			String previous = session.subscriptions.put(subscriptionId, channel);
			subscribed = this.interest.acquire(channel);
			if (previous != null) {
				this.interest.release(previous);
			}
		}
		await(subscribed, "destination channel");
	}

	private void unsubscribed(String sessionId, String subscriptionId) {
		Session session = this.sessions.get(sessionId);
		if (this.interest == null || session == null || subscriptionId == null) {
			return;
		}
		synchronized (session) {
			String channel = session.subscriptions.remove(subscriptionId);
			if (channel != null) {
				this.interest.release(channel);
			}
		}
	}

	@EventListener
	void onDisconnect(SessionDisconnectEvent event) {
		Session session = this.sessions.remove(event.getSessionId());
		if (session == null) {
			return;
		}
		CloseStatus status = event.getCloseStatus();
		if (status != null && status.getCode() == CloseStatus.SESSION_NOT_RELIABLE.getCode()) {
			this.metrics.slowConsumer();
			logger.warn("Node {}: session {} closed: slow consumer, it did not read within the send-time / "
					+ "send-buffer limit", this.nodeId, event.getSessionId());
		}
		else {
			logger.info("Node {}: session {} closed ({})", this.nodeId, event.getSessionId(), status);
		}
		if (this.interest == null) {
			return;
		}
		List<String> held;
		synchronized (session) {
			session.closed = true;
			held = List.copyOf(session.subscriptions.values());
			session.subscriptions.clear();
		}
		held.forEach(this.interest::release);
		if (session.user != null) {
			this.interest.release(this.channels.userChannel(session.user));
		}
	}

	private void await(CompletableFuture<Void> subscribed, String what) {
		if (subscribed.isDone() || !this.bus.isConnected()) {
			return;
		}
		try {
			subscribed.get(this.subscribeTimeout.toMillis(), TimeUnit.MILLISECONDS);
		}
		catch (TimeoutException | ExecutionException ex) {
			logger.warn("Redis did not confirm a {} subscription in time ({}); going on", what,
					ex.getClass().getSimpleName());
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	private static final class Session {

		final String user;

		final Map<String, String> subscriptions = new HashMap<>();

		boolean closed;

		Session(String user) {
			this.user = user;
		}

	}

}
