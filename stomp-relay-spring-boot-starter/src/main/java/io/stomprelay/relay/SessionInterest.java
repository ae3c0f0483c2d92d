package io.stomprelay.relay;

import java.security.Principal;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Counter;
import io.stomprelay.connection.ClientRejectedException;
import io.stomprelay.connection.SessionLanes;
import io.stomprelay.connection.SessionLimits;
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
 * it only sees frames that passed authentication and authorization. Every frame of a session,
 * its end included, reaches it in the order the client sent it ({@link SessionLanes}), so a
 * session's state is created before it is ended and a frame of an ended session changes nothing.
 * <p><b>Ready means ready, without blocking.</b> When a CONNECT or SUBSCRIBE needs a channel Redis
 * has not confirmed yet, the broker's handling of that frame (the {@code CONNECTED} frame, the
 * subscription, the {@code RECEIPT}) and every later frame of that session wait until Redis
 * confirms, bounded by {@code stomp-relay.redis.subscribe-timeout}; no thread waits meanwhile, and
 * other sessions go on. So once a client holds its {@code CONNECTED} frame, or the {@code RECEIPT}
 * of a {@code SUBSCRIBE} that asked for one, messages published anywhere in the cluster reach it,
 * and a SEND right behind a SUBSCRIBE is handled only after the subscription is in place.
 * (Spring's simple broker sends no receipts for SUBSCRIBE; this class does.) While Redis is away
 * nothing waits: local delivery goes on, and the channel is subscribed once Redis is back.
 * <p>It writes the one log line per session open and close, with the node id and the session id
 * (never a user name, token or payload), and counts sessions Spring closed because the client did
 * not read fast enough ({@link CloseStatus#SESSION_NOT_RELIABLE}, after
 * {@code stomp-relay.limits.send-time} or {@code send-buffer} was exceeded).
 */
public class SessionInterest implements ExecutorChannelInterceptor, LocalSessions {

	private static final Logger logger = LoggerFactory.getLogger(SessionInterest.class);

	private static final CompletableFuture<Void> READY = CompletableFuture.completedFuture(null);

	/** The {@code ERROR} message for a SUBSCRIBE beyond {@code stomp-relay.relay.max-channels}. */
	public static final String TOO_MANY_DESTINATIONS = "too many destinations";

	private final ConcurrentHashMap<String, Session> sessions = new ConcurrentHashMap<>();

	private final RelayChannels channels;

	private final ChannelInterest interest;

	private final RelayBus bus;

	private final Duration subscribeTimeout;

	private final ObjectProvider<MessageChannel> clientOutboundChannel;

	private final SessionLanes lanes;

	private final String nodeId;

	private final RelayMetrics metrics;

	private final int maxChannels;

	private final Counter channelRejections;

	/**
	 * @param interest the channel reference counts, or {@code null} when the relay is off
	 * @param bus the relay bus, or {@code null} when the relay is off
	 * @param lanes the inbound channel's executor, which holds a session's frames while it waits
	 * @param maxChannels the most relay channels this node holds; a SUBSCRIBE needing one more is
	 * refused
	 */
	public SessionInterest(RelayChannels channels, ChannelInterest interest, RelayBus bus, Duration subscribeTimeout,
			ObjectProvider<MessageChannel> clientOutboundChannel, SessionLanes lanes, MeterRegistry registry,
			String nodeId, RelayMetrics metrics, int maxChannels) {
		this.maxChannels = maxChannels;
		this.channelRejections = SessionLimits.rejections(registry, "channels");
		this.nodeId = nodeId;
		this.metrics = metrics;
		this.channels = channels;
		this.interest = interest;
		this.bus = bus;
		this.subscribeTimeout = subscribeTimeout;
		this.clientOutboundChannel = clientOutboundChannel;
		this.lanes = lanes;
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

	@Override
	public String userOf(String sessionId) {
		Session session = (sessionId != null) ? this.sessions.get(sessionId) : null;
		return (session != null) ? session.user : null;
	}

	@Override
	public boolean isLocal(String sessionId) {
		return sessionId != null && this.sessions.containsKey(sessionId);
	}

	private long count(boolean authenticated) {
		return this.sessions.values().stream().filter(s -> (s.user != null) == authenticated).count();
	}

	/**
	 * Refuses, on the thread that read it, a SUBSCRIBE that would take this node past
	 * {@code stomp-relay.relay.max-channels}, so one client cannot make the node (and Redis) hold
	 * channels without bound. Checked after authorization; the count may overshoot by the SUBSCRIBEs
	 * in flight at that moment.
	 */
	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		if (this.interest == null
				|| SimpMessageHeaderAccessor.getMessageType(message.getHeaders()) != SimpMessageType.SUBSCRIBE) {
			return message;
		}
		String destination = SimpMessageHeaderAccessor.getDestination(message.getHeaders());
		if (destination != null && destination.startsWith(DestinationKinds.TOPIC_PREFIX)
				&& this.interest.size() >= this.maxChannels
				&& this.interest.count(this.channels.destinationChannel(destination)) == 0) {
			this.channelRejections.increment();
			logger.warn("Node {}: session {} refused a new destination: the node holds {} relay channels "
					+ "(stomp-relay.relay.max-channels)", this.nodeId,
					SimpMessageHeaderAccessor.getSessionId(message.getHeaders()), this.interest.size());
			throw new ClientRejectedException(TOO_MANY_DESTINATIONS);
		}
		return message;
	}

	@Override
	public Message<?> beforeHandle(Message<?> message, MessageChannel channel, MessageHandler handler) {
		if (!(handler instanceof SimpleBrokerMessageHandler)) {
			return message;
		}
		MessageHeaders headers = message.getHeaders();
		SimpMessageType type = SimpMessageHeaderAccessor.getMessageType(headers);
		String sessionId = SimpMessageHeaderAccessor.getSessionId(headers);
		if (sessionId == null || type == null) {
			return message;
		}
		CompletableFuture<Void> ready = switch (type) {
			case CONNECT -> connected(sessionId, SimpMessageHeaderAccessor.getUser(headers));
			case SUBSCRIBE -> subscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers),
					SimpMessageHeaderAccessor.getDestination(headers));
			case UNSUBSCRIBE -> unsubscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers));
			case DISCONNECT -> ended(sessionId);
			default -> READY;
		};
		if (ready.isDone() || this.bus == null || !this.bus.isConnected()) {
			return message;
		}
		String what = (type == SimpMessageType.CONNECT) ? "user channel" : "destination channel";
		CompletableFuture<Void> bounded = ready.copy()
			.orTimeout(this.subscribeTimeout.toMillis(), TimeUnit.MILLISECONDS)
			.exceptionally(failure -> {
				logger.warn("Node {}: Redis did not confirm a {} subscription for session {} in time ({}); going on",
						this.nodeId, what, sessionId, failure.getClass().getSimpleName());
				return null;
			});
		this.lanes.pauseUntil(bounded, () -> handleLater(message, channel, handler));
		return null;
	}

	/** The broker's part of a frame that waited for Redis, and its receipt. */
	private void handleLater(Message<?> message, MessageChannel channel, MessageHandler handler) {
		Exception failure = null;
		try {
			handler.handleMessage(message);
		}
		catch (RuntimeException ex) {
			failure = ex;
			logger.warn("Node {}: the broker failed to handle a frame that waited for Redis: {}", this.nodeId,
					ex.getClass().getName());
		}
		afterMessageHandled(message, channel, handler, failure);
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

	private CompletableFuture<Void> connected(String sessionId, Principal user) {
		Session session = new Session((user != null) ? user.getName() : null);
		if (this.sessions.putIfAbsent(sessionId, session) != null) {
			return READY;
		}
		logger.info("Node {}: session {} opened ({})", this.nodeId, sessionId,
				(session.user != null) ? "authenticated" : "anonymous");
		if (session.user == null || this.interest == null) {
			return READY;
		}
		return this.interest.acquire(this.channels.userChannel(session.user));
	}

	private CompletableFuture<Void> subscribed(String sessionId, String subscriptionId, String destination) {
		Session session = this.sessions.get(sessionId);
		if (this.interest == null || session == null || destination == null || subscriptionId == null
				|| !destination.startsWith(DestinationKinds.TOPIC_PREFIX)) {
			return READY;
		}
		String channel = this.channels.destinationChannel(destination);
		synchronized (session) {
			String previous = session.subscriptions.put(subscriptionId, channel);
			CompletableFuture<Void> subscribed = this.interest.acquire(channel);
			if (previous != null) {
				this.interest.release(previous);
			}
			return subscribed;
		}
	}

	private CompletableFuture<Void> unsubscribed(String sessionId, String subscriptionId) {
		Session session = this.sessions.get(sessionId);
		if (this.interest == null || session == null || subscriptionId == null) {
			return READY;
		}
		synchronized (session) {
			String channel = session.subscriptions.remove(subscriptionId);
			if (channel != null) {
				this.interest.release(channel);
			}
		}
		return READY;
	}

	/**
	 * The session's last frame (a client DISCONNECT, or the one Spring sends when the connection
	 * closed): after every other frame of the session, so nothing it acquired can outlive it.
	 */
	private CompletableFuture<Void> ended(String sessionId) {
		Session session = this.sessions.remove(sessionId);
		if (session == null || this.interest == null) {
			return READY;
		}
		List<String> held;
		synchronized (session) {
			held = List.copyOf(session.subscriptions.values());
			session.subscriptions.clear();
		}
		held.forEach(this.interest::release);
		if (session.user != null) {
			this.interest.release(this.channels.userChannel(session.user));
		}
		return READY;
	}

	/**
	 * Logs the close and counts slow consumers, once per session (Spring may publish the event more
	 * than once). The session's state is released by its last frame, in order ({@link #ended}).
	 */
	@EventListener
	void onDisconnect(SessionDisconnectEvent event) {
		Session session = this.sessions.get(event.getSessionId());
		if (session == null || !session.closeReported.compareAndSet(false, true)) {
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
	}

	private static final class Session {

		final String user;

		final Map<String, String> subscriptions = new HashMap<>();

		final AtomicBoolean closeReported = new AtomicBoolean();

		Session(String user) {
			this.user = user;
		}

	}

}
