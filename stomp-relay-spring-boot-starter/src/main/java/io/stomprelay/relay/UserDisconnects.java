package io.stomprelay.relay;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.connection.ClientErrors;
import io.stomprelay.session.LocalSession;
import io.stomprelay.session.LocalSessionRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.util.IdGenerator;

/**
 * Ends every session of one user on every node: each gets an {@code ERROR} frame whose
 * {@code message} is {@value #DISCONNECTED_BY_SERVER}, and its connection is closed. This node's
 * sessions are ended at once; the other nodes are told by a {@link MessageKind#DISCONNECT} control
 * on the user's relay channel (so exactly the nodes holding a session of that user receive it, and
 * after the messages already published to the user). Sessions of the user that connect afterwards
 * are not affected: revoke the user's tokens to keep them out.
 * <p>Counted as {@code stomp_relay_sessions_disconnected_total} on the node that ends each session.
 */
public class UserDisconnects {

	/** The {@code message} header of the {@code ERROR} a disconnected session gets. */
	public static final String DISCONNECTED_BY_SERVER = "disconnected by server";

	private static final Logger logger = LoggerFactory.getLogger(UserDisconnects.class);

	private final String nodeId;

	private final LocalSessionRegistry sessions;

	private final ClientErrors clientErrors;

	private final ObjectProvider<ClusterRelayInterceptor> relay;

	private final IdGenerator ids;

	private final Counter disconnected;

	/**
	 * @param relay publishes the control to the other nodes; none while the relay is off
	 */
	public UserDisconnects(String nodeId, LocalSessionRegistry sessions, ClientErrors clientErrors,
			ObjectProvider<ClusterRelayInterceptor> relay, IdGenerator ids, MeterRegistry registry) {
		this.nodeId = nodeId;
		this.sessions = sessions;
		this.clientErrors = clientErrors;
		this.relay = relay;
		this.ids = ids;
		this.disconnected = Counter.builder("stomp.relay.sessions.disconnected")
			.description("Sessions ended because the server disconnected their user")
			.register(registry);
	}

	/**
	 * Ends the user's sessions on this node now and asks every other node to do the same. Returns at
	 * once: the other nodes act within moments (a Redis round trip); while Redis is away only this
	 * node's sessions are ended and the request is counted as a dropped publish.
	 * @return the id of the request
	 */
	public String disconnect(String user) {
		String id = this.ids.generateId().toString();
		logger.info("Node {}: disconnecting every session of a user everywhere (request {})", this.nodeId, id);
		endLocalSessions(user, id);
		this.relay.ifAvailable(relay -> relay.publishDisconnect(user, id));
		return id;
	}

	/**
	 * Ends this node's open sessions of the user.
	 * @param requestId the request's id, for the log
	 */
	void endLocalSessions(String user, String requestId) {
		for (LocalSession session : this.sessions.sessionsOf(user)) {
			if (session.isOpen()) {
				this.disconnected.increment();
				logger.info("Node {}: session {} closed: disconnected by server (request {})", this.nodeId,
						session.id(), requestId);
				this.clientErrors.closeWithError(session.id(), DISCONNECTED_BY_SERVER);
			}
		}
	}

}
