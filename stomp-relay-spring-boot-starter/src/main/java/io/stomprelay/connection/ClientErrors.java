package io.stomprelay.connection;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.messaging.support.MessageBuilder;

/**
 * Ends one client's session from anywhere on the server: sends it an {@code ERROR} frame with a
 * short, safe {@code message}, after which the connection is closed. Used where no exception can
 * travel back to the STOMP handler (scheduled expiry, controller failures on the inbound executor).
 */
public class ClientErrors {

	private final ObjectProvider<MessageChannel> clientOutboundChannel;

	public ClientErrors(ObjectProvider<MessageChannel> clientOutboundChannel) {
		this.clientOutboundChannel = clientOutboundChannel;
	}

	/**
	 * @param sessionId the session to end
	 * @param safeMessage a fixed sentence; never an exception text, token or payload
	 */
	public void closeWithError(String sessionId, String safeMessage) {
		StompHeaderAccessor error = StompHeaderAccessor.create(StompCommand.ERROR);
		error.setMessage(safeMessage);
		error.setSessionId(sessionId);
		this.clientOutboundChannel.getObject().send(MessageBuilder.createMessage(new byte[0], error.getMessageHeaders()));
	}

}
