package io.stomprelay.connection;

import java.util.UUID;

import io.stomprelay.system.NodeIdentity;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.converter.MessageConversionException;
import org.springframework.messaging.handler.annotation.Header;
import org.springframework.messaging.handler.annotation.MessageExceptionHandler;
import org.springframework.messaging.handler.annotation.support.MethodArgumentNotValidException;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.web.bind.annotation.ControllerAdvice;

/**
 * What a client is told when an {@code @MessageMapping} method cannot handle its frame: a body that
 * does not convert (bad JSON) gets {@code ERROR} "malformed message"; any other failure gets
 * "internal error (ref ...)" with the reference in the log. Both close the session. Controllers may
 * handle their own input errors first with their own {@code @MessageExceptionHandler}.
 */
@ControllerAdvice
class MessagingErrorAdvice {

	private static final Logger logger = LoggerFactory.getLogger(MessagingErrorAdvice.class);

	private final ClientErrors clientErrors;

	private final String nodeId;

	MessagingErrorAdvice(ClientErrors clientErrors, NodeIdentity node) {
		this.clientErrors = clientErrors;
		this.nodeId = node.id();
	}

	@MessageExceptionHandler({ MessageConversionException.class, MethodArgumentNotValidException.class })
	void malformed(Exception ex, @Header(SimpMessageHeaderAccessor.SESSION_ID_HEADER) String sessionId) {
		logger.info("Node {}: session {} sent a message body that could not be read: {}", this.nodeId, sessionId,
				ex.getClass().getSimpleName());
		this.clientErrors.closeWithError(sessionId, SafeStompErrorHandler.MALFORMED_MESSAGE);
	}

	@MessageExceptionHandler(Exception.class)
	void failed(Exception ex, @Header(SimpMessageHeaderAccessor.SESSION_ID_HEADER) String sessionId) {
		String reference = UUID.randomUUID().toString().substring(0, 8);
		logger.warn("Node {}: internal error ref={} in session {}: {}", this.nodeId, reference, sessionId,
				ex.getClass().getName());
		this.clientErrors.closeWithError(sessionId, "internal error (ref " + reference + ")");
	}

}
