package io.stomprelay.connection;

import java.util.UUID;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.Message;
import org.springframework.messaging.converter.MessageConversionException;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompConversionException;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHeaderAccessor;
import org.springframework.security.access.AccessDeniedException;
import org.springframework.web.socket.messaging.StompSubProtocolErrorHandler;

/**
 * Builds every {@code ERROR} frame a client gets from a failure while its frame was processed.
 * Known failures map to short fixed sentences; anything else becomes "internal error" with a
 * correlation id that is also logged. Exception texts and stack traces never reach the client.
 */
public class SafeStompErrorHandler extends StompSubProtocolErrorHandler {

	static final String ACCESS_DENIED = "access denied";

	static final String MALFORMED_FRAME = "malformed frame";

	static final String MALFORMED_MESSAGE = "malformed message";

	private static final Logger logger = LoggerFactory.getLogger(SafeStompErrorHandler.class);

	@Override
	public Message<byte[]> handleClientMessageProcessingError(Message<byte[]> clientMessage, Throwable ex) {
		StompHeaderAccessor error = StompHeaderAccessor.create(StompCommand.ERROR);
		error.setMessage(describe(clientMessage, ex));
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
	 * @return the safe sentence for a failure: the first known cause wins
	 */
	static String describe(Message<byte[]> clientMessage, Throwable ex) {
		for (Throwable cause = ex; cause != null; cause = cause.getCause()) {
			if (cause instanceof ClientRejectedException) {
				return cause.getMessage();
			}
			if (cause instanceof AccessDeniedException) {
				return ACCESS_DENIED;
			}
			if (cause instanceof StompConversionException) {
				return MALFORMED_FRAME;
			}
			if (cause instanceof MessageConversionException) {
				return MALFORMED_MESSAGE;
			}
		}
		String reference = UUID.randomUUID().toString().substring(0, 8);
		logger.warn("Internal error ref={} while handling a client frame: {}", reference, ex.getClass().getName());
		return "internal error (ref " + reference + ")";
	}

}
