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

import org.springframework.context.event.EventListener;
import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.web.socket.messaging.AbstractSubProtocolEvent;
import org.springframework.web.socket.messaging.SessionConnectEvent;
import org.springframework.web.socket.messaging.SessionDisconnectEvent;
import org.springframework.web.socket.messaging.SessionSubscribeEvent;
import org.springframework.web.socket.messaging.SessionUnsubscribeEvent;

/**
 * Follows this node's STOMP sessions and turns them into relay interest: an authenticated session
 * holds its user's channel, a subscription to {@code /topic/...} holds that destination's channel,
 * and both are released when the session unsubscribes or ends. It also answers whether a session is
 * authenticated, for authenticated-only delivery.
 * <p>A new channel subscription is awaited (bounded by {@code stomp-relay.redis.subscribe-timeout})
 * before the CONNECT or SUBSCRIBE goes on, so once a client holds its CONNECTED frame or SUBSCRIBE
 * receipt, messages published anywhere in the cluster reach it.
 */
public class SessionInterest {

	private static final Logger logger = LoggerFactory.getLogger(SessionInterest.class);

	private final ConcurrentHashMap<String, Session> sessions = new ConcurrentHashMap<>();

	private final RelayChannels channels;

	private final ChannelInterest interest;

	private final RelayBus bus;

	private final Duration subscribeTimeout;

	/**
	 * @param interest the channel reference counts, or {@code null} when the relay is off
	 */
	public SessionInterest(RelayChannels channels, ChannelInterest interest, RelayBus bus, Duration subscribeTimeout,
			MeterRegistry registry) {
		this.channels = channels;
		this.interest = interest;
		this.bus = bus;
		this.subscribeTimeout = subscribeTimeout;
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

	@EventListener
	void onConnect(SessionConnectEvent event) {
		String sessionId = sessionId(event);
		Principal user = event.getUser();
		Session session = new Session((user != null) ? user.getName() : null);
		if (sessionId == null || this.sessions.putIfAbsent(sessionId, session) != null) {
			return;
		}
		logger.info("Session {} opened ({})", sessionId, (session.user != null) ? "authenticated" : "anonymous");
		if (session.user != null && this.interest != null) {
			await(this.interest.acquire(this.channels.userChannel(session.user)), "user channel");
		}
	}

	@EventListener
	void onSubscribe(SessionSubscribeEvent event) {
		MessageHeaders headers = event.getMessage().getHeaders();
		String destination = SimpMessageHeaderAccessor.getDestination(headers);
		String subscriptionId = SimpMessageHeaderAccessor.getSubscriptionId(headers);
		Session session = this.sessions.get(sessionId(event));
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

	@EventListener
	void onUnsubscribe(SessionUnsubscribeEvent event) {
		String subscriptionId = SimpMessageHeaderAccessor.getSubscriptionId(event.getMessage().getHeaders());
		Session session = this.sessions.get(sessionId(event));
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
		logger.info("Session {} closed ({})", event.getSessionId(), event.getCloseStatus());
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

	private static String sessionId(AbstractSubProtocolEvent event) {
		return SimpMessageHeaderAccessor.getSessionId(event.getMessage().getHeaders());
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
