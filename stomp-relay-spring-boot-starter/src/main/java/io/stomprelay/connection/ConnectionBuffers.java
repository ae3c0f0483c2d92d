package io.stomprelay.connection;

import org.apache.catalina.connector.Connector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.tomcat.TomcatConnectorCustomizer;
import org.springframework.web.socket.WebSocketSession;
import org.springframework.web.socket.handler.WebSocketSessionDecorator;
import org.springframework.web.socket.server.standard.ServletServerContainerFactoryBean;

/**
 * The buffers Tomcat allocates for every WebSocket connection, idle or not, sized by
 * {@code stomp-relay.limits.connection-buffer}. With Tomcat's defaults an idle STOMP session costs
 * about 90 KB of heap, almost all of it in these buffers: the socket's read and write buffers, the
 * WebSocket frame input, output and encoder buffers, and the text and binary message buffers (which
 * Spring's STOMP handler would raise to 16.25 KB of chars, i.e. 33 KB). The binary message buffer is
 * kept at {@value #MINIMUM} bytes: STOMP clients send text. So is the socket's write buffer: once a
 * connection is a WebSocket, Tomcat writes each frame straight from its WebSocket output buffers
 * (a gathering write that bypasses the socket's buffer), so only the HTTP responses of the node
 * (the upgrade's 101, the push API, health) pass through it, in more, smaller writes when they are
 * larger than it. Small buffers cost nothing
 * in correctness here: the endpoint accepts WebSocket messages in parts, the STOMP decoder assembles
 * frames up to {@code stomp-relay.limits.message-size}, and larger outbound frames are written in
 * several chunks.
 *
 * <p>Three places, because Tomcat has three: the connector's socket buffers
 * ({@link #connectorCustomizer()}), the container's message buffers ({@link ContainerFactoryBean})
 * and the WebSocket implementation's fixed buffers, which Tomcat sizes from the JVM-wide system
 * property {@value #TOMCAT_DEFAULT_BUFFER_SIZE}, read once when its WebSocket classes load. This
 * class sets that property unless it was already given (e.g. with {@code -D}), before the server
 * starts. That property is also the default message buffer size of Tomcat's WebSocket
 * <em>client</em>: a client in the same JVM should set its own sizes (the startup log says so).
 */
final class ConnectionBuffers {

	/** Tomcat's system property for its per-session WebSocket input, output and encoder buffers. */
	static final String TOMCAT_DEFAULT_BUFFER_SIZE = "org.apache.tomcat.websocket.DEFAULT_BUFFER_SIZE";

	/** Tomcat's WebSocket frames carry control payloads of up to 125 bytes; buffers never go below. */
	static final int MINIMUM = 256;

	private static final Logger logger = LoggerFactory.getLogger(ConnectionBuffers.class);

	private final int bytes;

	ConnectionBuffers(long bytes) {
		if (bytes < MINIMUM || bytes > Integer.MAX_VALUE) {
			throw new IllegalArgumentException(
					"stomp-relay.limits.connection-buffer must be at least " + MINIMUM + " bytes, was " + bytes);
		}
		this.bytes = (int) bytes;
	}

	/** The size, in bytes, of each per-connection buffer. */
	int bytes() {
		return this.bytes;
	}

	/**
	 * The text message buffer's size in chars: Tomcat counts it in chars of two bytes each, so half
	 * the connection-buffer size keeps it at that many bytes like the others.
	 */
	int textChars() {
		return this.bytes / 2;
	}

	/**
	 * The binary message buffer's size: {@value #MINIMUM} bytes whatever the connection-buffer size.
	 * STOMP clients send text frames (stompjs sends binary ones only when asked to); a binary frame
	 * larger than this still arrives whole, in parts, like a text one, so a full-size buffer would
	 * only be memory every idle session keeps for a case that hardly occurs.
	 */
	int binaryBytes() {
		return MINIMUM;
	}

	/**
	 * The socket write buffer's size: {@value #MINIMUM} bytes whatever the connection-buffer size.
	 * Tomcat writes WebSocket frames from its own WebSocket buffers with a gathering write that does
	 * not use this buffer; only HTTP responses go through it.
	 */
	int socketWriteBytes() {
		return MINIMUM;
	}

	/**
	 * Sizes the connector's per-socket application buffers (the read buffer at the connection-buffer
	 * size: Tomcat reads a WebSocket frame at most that much at a time) and, unless already set,
	 * Tomcat's WebSocket buffer property; runs before the connector starts.
	 */
	TomcatConnectorCustomizer connectorCustomizer() {
		return (Connector connector) -> {
			applyWebSocketDefault();
			connector.setProperty("socket.appReadBufSize", Integer.toString(this.bytes));
			connector.setProperty("socket.appWriteBufSize", Integer.toString(socketWriteBytes()));
		};
	}

	private void applyWebSocketDefault() {
		String given = System.getProperty(TOMCAT_DEFAULT_BUFFER_SIZE);
		if (given == null) {
			System.setProperty(TOMCAT_DEFAULT_BUFFER_SIZE, Integer.toString(this.bytes));
			logger.info("Tomcat WebSocket buffers: {} B per connection ({} set JVM-wide; a WebSocket client in this "
					+ "JVM that does not size its own message buffers gets this size too)", this.bytes,
					TOMCAT_DEFAULT_BUFFER_SIZE);
		}
		else if (!given.equals(Integer.toString(this.bytes))) {
			logger.info("{}={} was given to the JVM; it wins over stomp-relay.limits.connection-buffer={} B",
					TOMCAT_DEFAULT_BUFFER_SIZE, given, this.bytes);
		}
	}

	/**
	 * Tomcat's WebSocket container with its text message buffer at the connection-buffer size
	 * (counted in chars, see {@link ConnectionBuffers#textChars()}) and its binary one at the minimum
	 * ({@link ConnectionBuffers#binaryBytes()}). The size
	 * is read when the container is configured, not when the bean is created: Spring may create this
	 * factory bean early, only to learn its type, before the properties can be bound.
	 */
	static final class ContainerFactoryBean extends ServletServerContainerFactoryBean {

		private final ObjectProvider<ConnectionBuffers> buffers;

		ContainerFactoryBean(ObjectProvider<ConnectionBuffers> buffers) {
			this.buffers = buffers;
		}

		@Override
		public void afterPropertiesSet() {
			ConnectionBuffers sizes = this.buffers.getObject();
			setMaxTextMessageBufferSize(sizes.textChars());
			setMaxBinaryMessageBufferSize(sizes.binaryBytes());
			super.afterPropertiesSet();
		}

	}

	/**
	 * Keeps a session's message buffers at the container's size. Spring's STOMP handler raises the
	 * text buffer of every new session to 16.25 KB so that a whole frame fits; this endpoint
	 * receives frames in parts, so the raise would only cost memory.
	 */
	static final class FixedMessageBufferSession extends WebSocketSessionDecorator {

		FixedMessageBufferSession(WebSocketSession delegate) {
			super(delegate);
		}

		@Override
		public void setTextMessageSizeLimit(int messageSizeLimit) {
			// kept at the container's buffer size: messages arrive in parts
		}

		@Override
		public void setBinaryMessageSizeLimit(int messageSizeLimit) {
			// kept at the container's buffer size: messages arrive in parts
		}

	}

}
