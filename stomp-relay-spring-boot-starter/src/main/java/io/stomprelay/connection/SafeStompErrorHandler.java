package io.stomprelay.connection;

import java.util.UUID;

import io.micrometer.core.instrument.Counter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.Message;
import org.springframework.messaging.converter.MessageConversionException;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompConversionException;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHeaderAccessor;
import org.springframework.web.socket.messaging.StompSubProtocolErrorHandler;

/**
 * Builds every {@code ERROR} frame a client gets from a failure while its frame was processed.
 * Known failures, client protocol errors included (a frame before CONNECT: "not connected", a second
 * CONNECT: "already connected"), map to short fixed sentences; anything else becomes "internal
 * error" with a correlation id that is also logged. Exception texts and stack traces never reach
 * the client.
 */
public class SafeStompErrorHandler extends StompSubProtocolErrorHandler {

	static final String ACCESS_DENIED = "access denied";

	static final String MALFORMED_FRAME = "malformed frame";

	static final String MALFORMED_MESSAGE = "malformed message";

	static final String FRAME_TOO_LARGE = "frame too large";

	static final String INVALID_DESTINATION = "invalid destination";

	static final String UNSUPPORTED_FRAME = "unsupported frame";

	static final String NOT_CONNECTED = "not connected";

	static final String ALREADY_CONNECTED = "already connected";

	private static final String ACCESS_DENIED_EXCEPTION = "org.springframework.security.access.AccessDeniedException";

	private static final Logger logger = LoggerFactory.getLogger(SafeStompErrorHandler.class);

	private final String nodeId;

	private final Counter oversizeFrames;

	private final Counter deniedFrames;

	/**
	 * @param nodeId this node's id, for log lines
	 * @param oversizeFrames counts frames refused for exceeding {@code stomp-relay.limits.message-size}
	 * @param deniedFrames counts frames the destination rules refused ("access denied")
	 */
	public SafeStompErrorHandler(String nodeId, Counter oversizeFrames, Counter deniedFrames) {
		this.nodeId = nodeId;
		this.oversizeFrames = oversizeFrames;
		this.deniedFrames = deniedFrames;
	}

	@Override
	public Message<byte[]> handleClientMessageProcessingError(Message<byte[]> clientMessage, Throwable ex) {
		String message = describe(clientMessage, ex, this.nodeId);
		if (FRAME_TOO_LARGE.equals(message)) {
			this.oversizeFrames.increment();
		}
		else if (ACCESS_DENIED.equals(message)) {
			this.deniedFrames.increment();
		}
		logger.info("Node {}: refused a frame from session {}: {}", this.nodeId, sessionId(clientMessage), message);
		StompHeaderAccessor error = StompHeaderAccessor.create(StompCommand.ERROR);
		error.setMessage(message);
		if (clientMessage != null) {
			StompHeaderAccessor client = MessageHeaderAccessor.getAccessor(clientMessage, StompHeaderAccessor.class);
			if (client != null && client.getReceipt() != null) {
				error.setReceiptId(client.getReceipt());
			}
		}
		error.setLeaveMutable(true);
		return MessageBuilder.createMessage(new byte[0], error.getMessageHeaders());
	}

	/**
	 * Spring's STOMP handler gives a frame its session id just before it sends it to the inbound
	 * channel, and refuses, with an {@link IllegalStateException}, only two frames before that: any
	 * frame but CONNECT on a connection that has not connected, and a second CONNECT.
	 */
	private static String outOfOrder(Message<byte[]> clientMessage) {
		Object command = clientMessage.getHeaders().get("stompCommand");
		return (command == StompCommand.CONNECT || command == StompCommand.STOMP) ? ALREADY_CONNECTED : NOT_CONNECTED;
	}

	/**
	 * Spring Security's {@code AccessDeniedException} (or a subclass), recognised by name: Spring
	 * Security is optional for the starter.
	 */
	private static boolean isAccessDenied(Throwable cause) {
		for (Class<?> type = cause.getClass(); type != null; type = type.getSuperclass()) {
			if (ACCESS_DENIED_EXCEPTION.equals(type.getName())) {
				return true;
			}
		}
		return false;
	}

	private static String sessionId(Message<byte[]> clientMessage) {
		return (clientMessage != null) ? SimpMessageHeaderAccessor.getSessionId(clientMessage.getHeaders()) : "(unparsed)";
	}

	/**
	 * @param clientMessage the frame being handled, {@code null} when it could not even be parsed
	 * @return the safe sentence for a failure: the first known cause wins
	 */
	static String describe(Message<byte[]> clientMessage, Throwable ex, String nodeId) {
		for (Throwable cause = ex; cause != null; cause = cause.getCause()) {
			if (cause instanceof ClientRejectedException) {
				return cause.getMessage();
			}
			if (isAccessDenied(cause)) {
				return ACCESS_DENIED;
			}
			if (cause instanceof StompConversionException) {
				String text = cause.getMessage();
				return (text != null && text.contains("size limit")) ? FRAME_TOO_LARGE : MALFORMED_FRAME;
			}
			if (cause instanceof MessageConversionException) {
				return MALFORMED_MESSAGE;
			}
		}
		if (clientMessage == null) {
			return MALFORMED_FRAME;
		}
		if (ex instanceof IllegalStateException && sessionId(clientMessage) == null) {
			return outOfOrder(clientMessage);
		}
		String reference = UUID.randomUUID().toString().substring(0, 8);
		logger.warn("Node {}: internal error ref={} in session {} while handling a client frame: {}", nodeId, reference,
				sessionId(clientMessage), ex.getClass().getName());
		return "internal error (ref " + reference + ")";
	}

}
