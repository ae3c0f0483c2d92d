package io.stomprelay.relay;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Counter;
import io.stomprelay.connection.ClientErrors;
import io.stomprelay.connection.ClientRejectedException;
import io.stomprelay.connection.SessionLanes;
import io.stomprelay.connection.SessionLimits;
import io.stomprelay.history.SubscriptionRecovery;
import io.stomprelay.session.ConnectAdmission;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
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

/**
 * Follows this node's STOMP sessions and turns them into relay interest: an authenticated session
 * holds its user's channel, a subscription to {@code /topic/...} holds that destination's channel,
 * and both are released when the session unsubscribes or ends. It also answers whether a session is
 * authenticated, for authenticated-only delivery.
 * <p>It sits on the client inbound channel and acts just before the local broker handles a frame, so
 * it only sees frames that passed authentication and authorization. Every frame of a session,
 * its end included, reaches it in the order the client sent it ({@link SessionLanes}). The session
 * itself is the {@link LocalSessionRegistry}'s, opened when its CONNECT was admitted: this class
 * records there what the broker subscribes the session to and, on the session's last frame (the
 * DISCONNECT), {@linkplain LocalSessionRegistry#end ends} it and releases what it held. A frame
 * of an ended session finds no session and changes nothing.
 * <p><b>Ready means ready, without blocking.</b> When a CONNECT or SUBSCRIBE needs a channel Redis
 * has not confirmed yet, the broker's handling of that frame (the {@code CONNECTED} frame, the
 * subscription, the {@code RECEIPT}) and every later frame of that session wait until Redis
 * confirms, bounded by {@code stomp-relay.redis.subscribe-timeout}; no thread waits meanwhile, and
 * other sessions go on. So once a client holds its {@code CONNECTED} frame, or the {@code RECEIPT}
 * of a {@code SUBSCRIBE} that asked for one, messages published anywhere in the cluster reach it,
 * and a SEND right behind a SUBSCRIBE is handled only after the subscription is in place.
 * (Spring's simple broker sends no receipts for SUBSCRIBE; this class does.) While Redis is away
 * nothing waits: local delivery goes on, and the channel is subscribed once Redis is back.
 * <p>As the registry's listener it writes the one log line per session open and close, with the
 * node id and the session id (never a user name, token or payload), and counts sessions Spring
 * closed because the client did not read fast enough ({@link CloseStatus#SESSION_NOT_RELIABLE},
 * after {@code stomp-relay.limits.send-time} or {@code send-buffer} was exceeded).
 */
public class SessionInterest implements ExecutorChannelInterceptor, LocalSessions, LocalSessionRegistry.Listener {

	private static final Logger logger = LoggerFactory.getLogger(SessionInterest.class);

	private static final CompletableFuture<Void> READY = CompletableFuture.completedFuture(null);

	/** The {@code ERROR} message for a SUBSCRIBE beyond {@code stomp-relay.relay.max-channels}. */
	public static final String TOO_MANY_DESTINATIONS = "too many destinations";

	private final LocalSessionRegistry sessions;

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

	private final Counter sessionRejections;

	private final ConnectAdmission admission;

	private final ClientErrors clientErrors;

	private final SubscriptionRecovery recovery;

	/**
	 * @param interest the channel reference counts, or {@code null} when the relay is off
	 * @param bus the relay bus, or {@code null} when the relay is off
	 * @param lanes the inbound channel's executor, which holds a session's frames while it waits
	 * @param maxChannels the most relay channels this node holds; a SUBSCRIBE needing one more is
	 * refused
	 * @param sessions this node's sessions; register this as their listener
	 * @param admission asked before the broker answers a CONNECT
	 * @param clientErrors ends a session whose CONNECT the admission refused
	 * @param recovery resumes subscriptions to destinations with history, {@code null} when none has
	 */
	public SessionInterest(RelayChannels channels, ChannelInterest interest, RelayBus bus, Duration subscribeTimeout,
			ObjectProvider<MessageChannel> clientOutboundChannel, SessionLanes lanes, MeterRegistry registry,
			String nodeId, RelayMetrics metrics, int maxChannels, LocalSessionRegistry sessions,
			ConnectAdmission admission, ClientErrors clientErrors, SubscriptionRecovery recovery) {
		this.recovery = recovery;
		this.sessions = sessions;
		this.admission = admission;
		this.clientErrors = clientErrors;
		this.sessionRejections = SessionLimits.rejections(registry, "sessions-per-user");
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
	}

	/** @return whether the session exists and was authenticated with a token */
	public boolean isAuthenticated(String sessionId) {
		return userOf(sessionId) != null;
	}

	@Override
	public String userOf(String sessionId) {
		LocalSession session = this.sessions.get(sessionId);
		return (session != null) ? session.user() : null;
	}

	@Override
	public boolean isLocal(String sessionId) {
		return this.sessions.get(sessionId) != null;
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
		if (type == SimpMessageType.CONNECT) {
			return connect(message, channel, handler, sessionId);
		}
		CompletableFuture<Void> ready = switch (type) {
			case SUBSCRIBE -> subscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers),
					SimpMessageHeaderAccessor.getDestination(headers), headers);
			case UNSUBSCRIBE -> unsubscribed(sessionId, SimpMessageHeaderAccessor.getSubscriptionId(headers));
			case DISCONNECT -> ended(sessionId);
			default -> READY;
		};
		return waitFor(ready, "destination channel subscription", message, channel, handler, () -> handleLater(message, channel, handler));
	}

	/**
	 * The broker is about to take the session's CONNECT: the admission has the last word (the
	 * user's sessions on every node), then the user's channel is held until the session ends. A
	 * refused CONNECT is answered with an {@code ERROR} instead of {@code CONNECTED}.
	 */
	private Message<?> connect(Message<?> message, MessageChannel channel, MessageHandler handler, String sessionId) {
		LocalSession session = this.sessions.get(sessionId);
		if (session == null || !session.markConnected()) {
			return message;
		}
		CompletableFuture<Boolean> admitted = this.admission.admit(session)
			.exceptionally(failure -> true)
			.thenApply(admit -> {
				if (!admit) {
					session.refuse();
				}
				return admit;
			});
		CompletableFuture<Void> ready = admitted
			.thenCompose(admit -> (admit && session.user() != null && this.interest != null)
					? this.interest.acquire(this.channels.userChannel(session.user())) : READY);
		Runnable later = () -> {
			if (session.isConnected()) {
				handleLater(message, channel, handler);
			}
			else {
				refuse(session);
			}
		};
		if (!admitted.isDone()) {
			return pause(ready, "session admission and user channel subscription", session.id(), later);
		}
		if (!session.isConnected()) {
			refuse(session);
			return null;
		}
		return waitFor(ready, "user channel subscription", message, channel, handler, later);
	}

	/**
	 * Lets the broker handle the frame now when {@code ready} is done or Redis is away; otherwise
	 * {@linkplain #pause pauses} the session until it is.
	 */
	private Message<?> waitFor(CompletableFuture<Void> ready, String what, Message<?> message, MessageChannel channel,
			MessageHandler handler, Runnable later) {
		if (ready.isDone() || this.bus == null || !this.bus.isConnected()) {
			return message;
		}
		return pause(ready, what, SimpMessageHeaderAccessor.getSessionId(message.getHeaders()), later);
	}

	/**
	 * Holds the session's frames until {@code ready} completes, bounded by the subscribe timeout,
	 * then runs {@code later} before them.
	 * @return {@code null}: the broker does not handle the frame now
	 */
	private Message<?> pause(CompletableFuture<Void> ready, String what, String sessionId, Runnable later) {
		CompletableFuture<Void> bounded = ready.copy()
			.orTimeout(this.subscribeTimeout.toMillis(), TimeUnit.MILLISECONDS)
			.exceptionally(failure -> {
				logger.warn("Node {}: Redis did not confirm a {} for session {} in time ({}); going on", this.nodeId,
						what, sessionId, failure.getClass().getSimpleName());
				return null;
			});
		this.lanes.pauseUntil(bounded, later);
		return null;
	}

	/** Answers a CONNECT the cluster refused: the user already has the most sessions allowed. */
	private void refuse(LocalSession session) {
		this.sessionRejections.increment();
		logger.warn("Node {}: session {} disconnected: {} (counted on every node)", this.nodeId, session.id(),
				SessionLimits.TOO_MANY_SESSIONS);
		this.clientErrors.closeWithError(session.id(), SessionLimits.TOO_MANY_SESSIONS);
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
		if (registeredBy && this.recovery != null
				&& this.recovery.recover(stomp.getSessionId(), stomp.getSubscriptionId(), receipt)) {
			return;
		}
		if (registeredBy && receipt != null) {
			StompHeaderAccessor answer = StompHeaderAccessor.create(StompCommand.RECEIPT);
			answer.setReceiptId(receipt);
			answer.setSessionId(stomp.getSessionId());
			this.clientOutboundChannel.getObject()
				.send(MessageBuilder.createMessage(new byte[0], answer.getMessageHeaders()));
		}
	}

	private CompletableFuture<Void> subscribed(String sessionId, String subscriptionId, String destination,
			MessageHeaders headers) {
		LocalSession session = this.sessions.get(sessionId);
		if (session == null || destination == null || subscriptionId == null) {
			return READY;
		}
		if (this.recovery != null) {
			this.recovery.prepare(session, subscriptionId, destination, headers);
		}
		String previous = this.sessions.subscribe(session, subscriptionId, destination);
		CompletableFuture<Void> subscribed = hold(destination);
		release(previous);
		return subscribed;
	}

	private CompletableFuture<Void> unsubscribed(String sessionId, String subscriptionId) {
		LocalSession session = this.sessions.get(sessionId);
		if (session != null && subscriptionId != null) {
			release(this.sessions.unsubscribe(session, subscriptionId));
			if (this.recovery != null) {
				this.recovery.forget(sessionId, subscriptionId);
			}
		}
		return READY;
	}

	/**
	 * The session's last frame (a client DISCONNECT, or the one Spring sends when the connection
	 * closed): after every other frame of the session, so nothing it acquired can outlive it.
	 */
	private CompletableFuture<Void> ended(String sessionId) {
		LocalSession session = this.sessions.end(sessionId);
		if (session == null) {
			return READY;
		}
		session.subscriptions().values().forEach(this::release);
		if (session.isConnected() && session.user() != null && this.interest != null) {
			this.interest.release(this.channels.userChannel(session.user()));
		}
		return READY;
	}

	/**
	 * @return when the channel of a {@code /topic} destination is subscribed; other destinations
	 * need no channel
	 */
	private CompletableFuture<Void> hold(String destination) {
		if (this.interest == null || !destination.startsWith(DestinationKinds.TOPIC_PREFIX)) {
			return READY;
		}
		return this.interest.acquire(this.channels.destinationChannel(destination));
	}

	private void release(String destination) {
		if (this.interest != null && destination != null && destination.startsWith(DestinationKinds.TOPIC_PREFIX)) {
			this.interest.release(this.channels.destinationChannel(destination));
		}
	}

	@Override
	public void opened(LocalSession session) {
		logger.info("Node {}: session {} opened ({})", this.nodeId, session.id(), session.kind().tag());
	}

	/** Logs the close and counts slow consumers; the registry reports each session's close once. */
	@Override
	public void closed(LocalSession session, CloseStatus status) {
		if (status != null && status.getCode() == CloseStatus.SESSION_NOT_RELIABLE.getCode()) {
			this.metrics.slowConsumer();
			logger.warn("Node {}: session {} closed: slow consumer, it did not read within the send-time / "
					+ "send-buffer limit", this.nodeId, session.id());
		}
		else {
			logger.info("Node {}: session {} closed ({})", this.nodeId, session.id(), status);
		}
	}

}
