package io.stomprelay.connection;

import java.security.Principal;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Set;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.session.TokenBucket;
import io.stomprelay.system.StompRelayProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.ChannelInterceptor;
import org.springframework.messaging.support.MessageHeaderAccessor;

/**
 * Per-session limits on the way in, checked right after authentication: the commands a client may
 * send (others: "unsupported frame"), required headers, the frame rate (a token bucket per session;
 * a heart-beat costs a token like any frame, which a client sending one every few seconds never
 * notices but a heart-beat flood does), the number of subscriptions per session (a SUBSCRIBE reusing
 * the id of a live subscription is refused: "subscription id in use") and the number of sessions per
 * user on this node. A client over a limit gets an {@code ERROR} naming the limit and is
 * disconnected; the rejection is counted ({@code stomp_relay_limit_rejections_total{limit}}) and
 * logged once, without payload. Other sessions are not affected.
 * <p>The limits apply with {@code stomp-relay.limits.enabled=true}; either way this interceptor admits
 * each session: the CONNECT that passes the per-user limit
 * {@linkplain LocalSessionRegistry#open opens} the session in the registry, where the limits keep
 * the session's state (its token bucket and the subscription ids it asked for). A closed session's
 * frames (the rest of the WebSocket message that was being read when it closed) are not counted.
 */
public class SessionLimits implements ChannelInterceptor {

	static final String RATE_EXCEEDED = "rate limit exceeded";

	static final String TOO_MANY_SUBSCRIPTIONS = "too many subscriptions";

	/** The {@code ERROR} message for a CONNECT beyond {@code max-sessions-per-user}. */
	public static final String TOO_MANY_SESSIONS = "too many sessions for this user";

	static final String MISSING_DESTINATION = "destination header required";

	static final String MISSING_ID = "id header required";

	static final String SUBSCRIPTION_ID_IN_USE = "subscription id in use";

	private static final Set<StompCommand> CLIENT_COMMANDS = EnumSet.of(StompCommand.CONNECT, StompCommand.STOMP,
			StompCommand.SEND, StompCommand.SUBSCRIBE, StompCommand.UNSUBSCRIBE, StompCommand.DISCONNECT);

	private static final Logger logger = LoggerFactory.getLogger(SessionLimits.class);

	private final StompRelayProperties.Limits limits;

	private final LocalSessionRegistry sessions;

	private final Counter rateRejections;

	private final Counter subscriptionRejections;

	private final Counter sessionRejections;

	private final String nodeId;

	/**
	 * @param sessions the registry where admitted sessions are opened
	 */
	public SessionLimits(String nodeId, StompRelayProperties.Limits limits, MeterRegistry registry,
			LocalSessionRegistry sessions) {
		this.nodeId = nodeId;
		this.sessions = sessions;
		this.limits = limits;
		this.rateRejections = rejections(registry, "rate");
		this.subscriptionRejections = rejections(registry, "subscriptions");
		this.sessionRejections = rejections(registry, "sessions-per-user");
	}

	/**
	 * The rejection counter of one limit; {@code frame-size} is counted by {@link SafeStompErrorHandler},
	 * which sees oversize frames.
	 */
	public static Counter rejections(MeterRegistry registry, String limit) {
		return Counter.builder("stomp.relay.limit.rejections")
			.description("Clients disconnected for exceeding a limit")
			.tag("limit", limit)
			.register(registry);
	}

	@Override
	public Message<?> preSend(Message<?> message, MessageChannel channel) {
		SimpMessageType type = SimpMessageHeaderAccessor.getMessageType(message.getHeaders());
		String sessionId = SimpMessageHeaderAccessor.getSessionId(message.getHeaders());
		if (sessionId == null || type == SimpMessageType.DISCONNECT) {
			return message;
		}
		if (type == SimpMessageType.CONNECT) {
			connect(sessionId, SimpMessageHeaderAccessor.getUser(message.getHeaders()),
					message.getHeaders().get(TokenAuthenticationInterceptor.TOKEN_EXPIRES_AT, Instant.class));
			return message;
		}
		if (!this.limits.enabled()) {
			return message;
		}
		if (type != SimpMessageType.HEARTBEAT) {
			requireClientCommand(message);
			requireHeaders(type, message);
		}
		LocalSession session = this.sessions.get(sessionId);
		if (session == null || !session.isOpen()) {
			return message;
		}
		if (!session.inboundRate().tryTake()) {
			reject(sessionId, this.rateRejections, RATE_EXCEEDED);
		}
		String subscriptionId = SimpMessageHeaderAccessor.getSubscriptionId(message.getHeaders());
		if (type == SimpMessageType.SUBSCRIBE && subscriptionId != null) {
			if (!session.requestSubscription(subscriptionId)) {
				throw new ClientRejectedException(SUBSCRIPTION_ID_IN_USE);
			}
			if (session.subscriptionRequests() > this.limits.maxSubscriptions()) {
				reject(sessionId, this.subscriptionRejections, TOO_MANY_SUBSCRIPTIONS);
			}
		}
		else if (type == SimpMessageType.UNSUBSCRIBE && subscriptionId != null) {
			session.requestUnsubscription(subscriptionId);
		}
		return message;
	}

	/**
	 * Clients send CONNECT (or STOMP), SEND, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT and heart-beats. The
	 * simple broker supports no acknowledgements or transactions (ACK, NACK, BEGIN, COMMIT, ABORT),
	 * and server frames (MESSAGE, RECEIPT, ERROR, CONNECTED) have no meaning from a client; Spring
	 * would otherwise route a client's MESSAGE like a SEND.
	 */
	private static void requireClientCommand(Message<?> message) {
		StompHeaderAccessor accessor = MessageHeaderAccessor.getAccessor(message, StompHeaderAccessor.class);
		StompCommand command = (accessor != null) ? accessor.getCommand() : null;
		if (command != null && !CLIENT_COMMANDS.contains(command)) {
			throw new ClientRejectedException(SafeStompErrorHandler.UNSUPPORTED_FRAME);
		}
	}

	/**
	 * SEND and SUBSCRIBE need a destination, SUBSCRIBE and UNSUBSCRIBE an id; Spring would otherwise
	 * log such frames as errors and ignore them.
	 */
	private static void requireHeaders(SimpMessageType type, Message<?> message) {
		boolean needsDestination = type == SimpMessageType.MESSAGE || type == SimpMessageType.SUBSCRIBE;
		boolean needsId = type == SimpMessageType.SUBSCRIBE || type == SimpMessageType.UNSUBSCRIBE;
		if (needsDestination && !hasText(SimpMessageHeaderAccessor.getDestination(message.getHeaders()))) {
			throw new ClientRejectedException(MISSING_DESTINATION);
		}
		if (needsId && !hasText(SimpMessageHeaderAccessor.getSubscriptionId(message.getHeaders()))) {
			throw new ClientRejectedException(MISSING_ID);
		}
	}

	private static boolean hasText(String value) {
		return value != null && !value.isBlank();
	}

	/**
	 * Opens the session, unless its user already has the most sessions allowed on this node; the
	 * refused CONNECT leaves no trace in the user's count.
	 */
	private void connect(String sessionId, Principal user, Instant tokenExpiresAt) {
		TokenBucket inboundRate = new TokenBucket(this.limits.inboundRate(), this.limits.inboundBurst());
		int maxSessionsPerUser = this.limits.enabled() ? this.limits.maxSessionsPerUser() : Integer.MAX_VALUE;
		if (this.sessions.open(sessionId, (user != null) ? user.getName() : null, tokenExpiresAt, inboundRate,
				maxSessionsPerUser) == null) {
			reject(sessionId, this.sessionRejections, TOO_MANY_SESSIONS);
		}
	}

	private void reject(String sessionId, Counter counter, String reason) {
		counter.increment();
		logger.warn("Node {}: session {} disconnected: {}", this.nodeId, sessionId, reason);
		throw new ClientRejectedException(reason);
	}

}
