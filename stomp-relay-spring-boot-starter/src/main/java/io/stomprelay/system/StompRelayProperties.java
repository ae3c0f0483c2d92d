package io.stomprelay.system;

import java.time.Duration;
import java.util.List;

import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;
import org.springframework.util.unit.DataSize;

/**
 * Every {@code stomp-relay.*} property, with its default. The README and {@code docs/} list the
 * same names and defaults.
 *
 * @param nodeId this node's id in logs, health, metrics and envelopes; generated when blank
 * @param allowedOrigins browser origins allowed to open {@code /ws}; empty means same-origin only
 * @param auth how tokens on CONNECT and on the HTTP API are verified
 * @param redis how the relay uses Redis
 * @param relay the cross-node relay itself
 * @param limits per-connection limits
 * @param websocket WebSocket transport choices
 * @param shutdown how a stopping node lets its clients go
 * @param endpoint the server's own STOMP endpoint (off: the application brings its own)
 * @param rules which destinations clients may send and subscribe to
 * @param api the HTTP push API
 * @param presence the cluster-wide view of who is connected
 * @param history the destinations whose messages are kept in Redis for clients that come back
 */
@ConfigurationProperties("stomp-relay")
public record StompRelayProperties(String nodeId, @DefaultValue List<String> allowedOrigins,
		@DefaultValue Auth auth, @DefaultValue Redis redis, @DefaultValue Relay relay,
		@DefaultValue Limits limits, @DefaultValue WebSocket websocket,
		@DefaultValue Shutdown shutdown, @DefaultValue Endpoint endpoint, @DefaultValue Rules rules,
		@DefaultValue Api api, @DefaultValue Presence presence, @DefaultValue History history) {

	/**
	 * @param destinations the destinations, as clients subscribe to them, whose messages are kept:
	 * Ant-style patterns such as {@code /topic/chat} or {@code /user/queue/**}; empty (the default):
	 * no history anywhere, nothing kept in Redis
	 * @param size messages kept per destination (per user for a user destination); Redis trims in
	 * blocks, so a few more may stay
	 * @param ttl how long a destination's history outlives its last message
	 * @param maxRecovery the most messages one resuming SUBSCRIBE replays; a client further behind
	 * gets {@code recovered:false} and nothing replayed
	 * @param recoveryTimeout how long a resuming SUBSCRIBE waits for Redis to read what it missed
	 * before it gets {@code recovered:false} (generous: after a deploy every client resumes at once)
	 */
	public record History(@DefaultValue List<String> destinations, @DefaultValue("1000") int size,
			@DefaultValue("10m") Duration ttl, @DefaultValue("1000") int maxRecovery,
			@DefaultValue("5s") Duration recoveryTimeout) {

		/** @return whether any destination keeps history */
		public boolean enabled() {
			return !this.destinations.isEmpty();
		}

	}

	/**
	 * @param enabled whether every node writes its sessions to Redis so that the application's
	 * {@code SimpUserRegistry}, {@code ClusterSessions} and (with the HTTP API on) {@code /api/users}
	 * and {@code /api/presence} see the whole cluster, {@code stomp-relay.limits.max-sessions-per-user}
	 * counts every node's sessions, and a user can be disconnected everywhere; needs the relay
	 * @param nodeTtl how long a node's sessions stay listed after its last heartbeat (a node that
	 * dies without stopping vanishes from every view this long after it died, at most); the node
	 * renews it every quarter of this
	 */
	public record Presence(@DefaultValue("false") boolean enabled, @DefaultValue("10s") Duration nodeTtl) {
	}

	/**
	 * @param enabled whether the HTTP push API ({@code POST /api/messages/...}) is served; needs
	 * {@code stomp-relay.auth.enabled} (its callers present a JWT with role {@code admin})
	 * @param protectedPaths more paths that need an admin JWT, e.g. the application's own it wants
	 * behind the same check; the push API's paths (and, with presence on, {@code /api/users/**} and
	 * {@code /api/presence}) always need one
	 * @param openPaths paths that stay open to everyone but read an admin JWT when one is sent (e.g.
	 * {@code /actuator/**}, so health details can be shown "when authorized")
	 */
	public record Api(@DefaultValue("false") boolean enabled,
			@DefaultValue("/api/messages/**") List<String> protectedPaths, @DefaultValue List<String> openPaths) {
	}

	/**
	 * @param enabled whether the starter registers the stomp-relay server's STOMP endpoint
	 * ({@code /ws}, application prefix {@code /app}, simple broker for {@code /topic} and
	 * {@code /queue}, heart-beats, graceful drain); off, the application's own
	 * {@code WebSocketMessageBrokerConfigurer} does this and the relay attaches to it
	 */
	public record Endpoint(@DefaultValue("false") boolean enabled) {
	}

	/**
	 * @param enabled whether clients are held to the destination rules with Spring Security's message
	 * authorization (SEND only to {@code /app/**}, SUBSCRIBE only to {@code /topic/**} and
	 * {@code /user/queue/**}) and to the destination syntax; needs spring-security-messaging
	 * @param authenticatedDestinations {@code /app/...} destinations only authenticated sessions may
	 * send to
	 */
	public record Rules(@DefaultValue("false") boolean enabled, @DefaultValue List<String> authenticatedDestinations) {
	}

	/**
	 * @param enabled whether a STOMP session authenticates with {@code Authorization: Bearer <JWT>}
	 * on CONNECT and ends when its token expires; needs Spring Security's OAuth2 resource server
	 * (off: sessions keep whatever user the application's own authentication gives them)
	 * @param jwt the HS256 verifier
	 * @param maxSessionAge how long a session authenticated with a token that has no {@code exp}
	 * may stay connected
	 */
	public record Auth(@DefaultValue("false") boolean enabled, @DefaultValue Jwt jwt,
			@DefaultValue("24h") Duration maxSessionAge) {
	}

	/**
	 * @param secret the shared HS256 key, at least 32 bytes; when blank, Spring's
	 * {@code spring.security.oauth2.resourceserver.jwt.issuer-uri} or {@code jwk-set-uri} must be set
	 * @param previousSecret the secret being rotated out: tokens signed with it are still accepted
	 * until it is removed (see docs/SECURITY.md)
	 * @param clockSkew how long after {@code exp} a token is still accepted
	 * @param sessionClaims the token claims a session's user keeps for the session's life, for the
	 * application to read ({@code TokenAuthentication.getClaim(name)}); none by default: a session
	 * keeps its user name and roles, not the token
	 */
	public record Jwt(String secret, String previousSecret, @DefaultValue("0s") Duration clockSkew,
			@DefaultValue List<String> sessionClaims) {
	}

	/**
	 * @param channelPrefix the namespace of every Redis channel the relay uses
	 * @param subscribeTimeout how long CONNECT / SUBSCRIBE wait for Redis to confirm a new
	 * channel subscription before going on without it
	 * @param commandTimeout the timeout of every Redis command the relay sends
	 * @param maxReconnectDelay the longest pause between two reconnect attempts while Redis is
	 * away (attempts start at 50 ms and double up to this), so relaying resumes at most about this
	 * long after Redis is back
	 * @param pingInterval how often the relay PINGs each of its Redis connections; one that
	 * answers none of three PINGs in a row is dropped and reconnected (a half-open connection)
	 * @param topologyRefreshInterval with a Redis Cluster, how often the relay reads the cluster's
	 * topology again; failovers and slot moves are also noticed at once from redirects, failed
	 * reconnects and subscriptions the cluster ends, so this bounds the time to notice a change that
	 * gave no such sign
	 */
	public record Redis(@DefaultValue("stomp-relay") String channelPrefix,
			@DefaultValue("2s") Duration subscribeTimeout, @DefaultValue("2s") Duration commandTimeout,
			@DefaultValue("1s") Duration maxReconnectDelay, @DefaultValue("5s") Duration pingInterval,
			@DefaultValue("5s") Duration topologyRefreshInterval) {
	}

	/**
	 * @param enabled whether outbound messages are republished through Redis (off: a single
	 * node with Spring's simple broker only, used as the benchmark ceiling)
	 * @param deliveryLanes threads that deliver messages arriving from Redis (0: one per core,
	 * at least 2); a channel always maps to the same lane, which keeps its order
	 * @param deliveryQueueCapacity messages waiting per lane before new ones are dropped
	 * @param maxEnvelopeSize the largest envelope accepted from Redis
	 * @param maxChannels the most distinct relay channels (users with a session here plus topic
	 * destinations subscribed here) one node holds; a SUBSCRIBE that would need one more is refused
	 * with {@code ERROR} "too many destinations"
	 */
	public record Relay(@DefaultValue("true") boolean enabled, @DefaultValue("0") int deliveryLanes,
			@DefaultValue("10000") int deliveryQueueCapacity, @DefaultValue("1MB") DataSize maxEnvelopeSize,
			@DefaultValue("100000") int maxChannels) {
	}

	/**
	 * @param enabled whether the per-session limits below (frame size, slow clients, frame rate,
	 * subscriptions, sessions per user, connect timeout, connection buffers) are enforced, refused
	 * frames answered with short, safe {@code ERROR} frames and controller failures with
	 * "malformed message" / "internal error (ref ...)"
	 * @param messageSize the largest inbound STOMP frame
	 * @param sendTime how long a send to a slow client may take before the session is closed
	 * @param sendBuffer how much may be buffered for a slow client before the session is closed
	 * @param inboundRate frames per second one session may send, on average (heart-beats included)
	 * @param inboundBurst frames one session may send at once before the rate applies
	 * @param maxSubscriptions subscriptions one session may hold
	 * @param maxSessionsPerUser sessions one user may hold: on all nodes together with
	 * {@code stomp-relay.presence.enabled}, otherwise on each node
	 * @param connectTimeout how long a new WebSocket may wait before sending its CONNECT frame
	 * @param connectionBuffer the size of each buffer Tomcat keeps per WebSocket connection (socket
	 * read and write, frame input and output, message): frames larger than this are read and written
	 * in parts, so it bounds idle memory, not frame size
	 */
	public record Limits(@DefaultValue("false") boolean enabled, @DefaultValue("64KB") DataSize messageSize, @DefaultValue("10s") Duration sendTime,
			@DefaultValue("512KB") DataSize sendBuffer, @DefaultValue("100") int inboundRate,
			@DefaultValue("200") int inboundBurst, @DefaultValue("100") int maxSubscriptions,
			@DefaultValue("20") int maxSessionsPerUser, @DefaultValue("10s") Duration connectTimeout,
			@DefaultValue("1KB") DataSize connectionBuffer) {
	}

	/**
	 * @param compression whether permessage-deflate is negotiated when a client offers it (off:
	 * compressing small STOMP frames costs several times the CPU of sending them)
	 * @param heartbeat the server's STOMP heart-beat interval, both ways
	 * @param handshakeHeaders the HTTP headers of the WebSocket upgrade request that a session keeps
	 * for its lifetime ({@code WebSocketSession.getHandshakeHeaders()}); the container and Spring
	 * would otherwise each keep a copy of all of them (cookies, user agent, ...) for every
	 * connection. Handshake interceptors still see every header.
	 */
	public record WebSocket(@DefaultValue("false") boolean compression, @DefaultValue("10s") Duration heartbeat,
			@DefaultValue List<String> handshakeHeaders) {
	}

	/**
	 * @param drainTimeout how long a stopping node waits for its clients to leave after telling
	 * them to reconnect, before it closes the rest
	 */
	public record Shutdown(@DefaultValue("5s") Duration drainTimeout) {
	}

}
