package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.context.ApplicationContext;
import org.springframework.context.ApplicationContextAware;
import org.springframework.context.ApplicationListener;
import org.springframework.context.event.ContextClosedEvent;
import org.springframework.core.Ordered;
import org.springframework.http.HttpStatus;
import org.springframework.http.server.ServerHttpRequest;
import org.springframework.http.server.ServerHttpResponse;
import org.springframework.web.socket.CloseStatus;
import org.springframework.web.socket.WebSocketHandler;
import org.springframework.web.socket.server.HandshakeInterceptor;

/**
 * Lets a stopping node's clients go in order. When the node is asked to stop (SIGTERM, or any close
 * of the application context) it refuses new WebSocket handshakes with {@code 503}, sends every
 * connected STOMP session an {@code ERROR} frame whose {@code message} is {@value #SHUTTING_DOWN}
 * (Spring closes the connection after it, once the messages already queued for that session are
 * out), and waits up to {@code stomp-relay.shutdown.drain-timeout} for the sessions to end. Whatever
 * is left then is closed by Spring's own shutdown. Each ended session releases its Redis
 * subscriptions, so the node's channels go with its clients.
 * <p>It acts on the {@link ContextClosedEvent}, first among its listeners, rather than as a
 * {@code SmartLifecycle}: Spring's client channel executors stop taking tasks on that very event,
 * before any lifecycle bean is stopped, and the {@code ERROR} frames travel through them.
 * <p>The sessions it tells and waits for are those open in the {@link LocalSessionRegistry} when
 * the drain starts; as the registry's listener it wakes up whenever a session closes or ends.
 */
public class SessionDrain implements HandshakeInterceptor, ApplicationListener<ContextClosedEvent>,
		ApplicationContextAware, Ordered, LocalSessionRegistry.Listener {

	/** What a client is told when the node goes away. */
	public static final String SHUTTING_DOWN = "server shutting down, reconnect";

	private static final Logger logger = LoggerFactory.getLogger(SessionDrain.class);

	private final LocalSessionRegistry sessions;

	private final Object drained = new Object();

	private final ClientErrors clientErrors;

	private final Duration drainTimeout;

	private final String nodeId;

	private volatile boolean draining;

	private ApplicationContext context;

	/**
	 * @param sessions the sessions to drain; register this as their listener
	 */
	public SessionDrain(ClientErrors clientErrors, Duration drainTimeout, String nodeId, LocalSessionRegistry sessions) {
		this.sessions = sessions;
		this.clientErrors = clientErrors;
		this.drainTimeout = drainTimeout;
		this.nodeId = nodeId;
	}

	@Override
	public boolean beforeHandshake(ServerHttpRequest request, ServerHttpResponse response, WebSocketHandler wsHandler,
			Map<String, Object> attributes) {
		if (this.draining) {
			response.setStatusCode(HttpStatus.SERVICE_UNAVAILABLE);
			return false;
		}
		return true;
	}

	@Override
	public void afterHandshake(ServerHttpRequest request, ServerHttpResponse response, WebSocketHandler wsHandler,
			Exception exception) {
	}

	@Override
	public void closed(LocalSession session, CloseStatus status) {
		wakeUp();
	}

	@Override
	public void ended(LocalSession session) {
		wakeUp();
	}

	private void wakeUp() {
		if (this.draining) {
			synchronized (this.drained) {
				this.drained.notifyAll();
			}
		}
	}

	@Override
	public void setApplicationContext(ApplicationContext context) {
		this.context = context;
	}

	@Override
	public void onApplicationEvent(ContextClosedEvent event) {
		if (event.getApplicationContext() != this.context || this.draining) {
			return;
		}
		this.draining = true;
		List<LocalSession> open = this.sessions.all().stream().filter(LocalSession::isOpen).toList();
		logger.info("Node {}: shutting down, telling {} session(s) to reconnect elsewhere", this.nodeId, open.size());
		for (LocalSession session : open) {
			try {
				this.clientErrors.closeWithError(session.id(), SHUTTING_DOWN);
			}
			catch (RuntimeException ex) {
				logger.warn("Node {}: could not tell session {} to reconnect: {}", this.nodeId, session.id(),
						ex.getClass().getSimpleName());
			}
		}
		long deadline = System.nanoTime() + this.drainTimeout.toNanos();
		synchronized (this.drained) {
			long left;
			while (stillOpen(open) > 0 && (left = deadline - System.nanoTime()) > 0) {
				try {
					TimeUnit.NANOSECONDS.timedWait(this.drained, left);
				}
				catch (InterruptedException ex) {
					Thread.currentThread().interrupt();
					break;
				}
			}
		}
		logger.info("Node {}: drained, {} session(s) still open are closed by the shutdown", this.nodeId,
				stillOpen(open));
	}

	private static long stillOpen(List<LocalSession> sessions) {
		return sessions.stream().filter(LocalSession::isOpen).count();
	}

	/** Before the channel executors stop taking tasks on the same event. */
	@Override
	public int getOrder() {
		return Ordered.HIGHEST_PRECEDENCE;
	}

	/** @return whether the node is stopping and refuses new sessions */
	public boolean isDraining() {
		return this.draining;
	}

}
