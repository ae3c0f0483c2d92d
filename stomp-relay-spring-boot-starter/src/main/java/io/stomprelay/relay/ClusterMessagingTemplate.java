package io.stomprelay.relay;

import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.util.IdGenerator;

/**
 * Sends to the whole cluster and returns the message id. Plain {@link SimpMessagingTemplate} calls
 * are relayed just the same; this bean adds the one thing Spring has no word for, the
 * <em>authenticated</em> kind: {@link #convertAndSendToAuthenticated} reaches only authenticated
 * subscribers of a {@code /topic} destination, on every node. (Equivalently, set the message header
 * {@link RelayHeaders#AUDIENCE} to {@value RelayHeaders#AUTHENTICATED} through a
 * {@link SimpMessageHeaderAccessor}.)
 */
public class ClusterMessagingTemplate {

	private final SimpMessagingTemplate template;

	private final IdGenerator ids;

	public ClusterMessagingTemplate(SimpMessagingTemplate template, IdGenerator ids) {
		this.template = template;
		this.ids = ids;
	}

	/**
	 * To every session of a user, on every node.
	 * @param user the user name (JWT {@code sub})
	 * @param destination e.g. {@code /queue/notifications}; clients subscribe to
	 * {@code /user/queue/notifications}
	 * @return the message id
	 */
	public String convertAndSendToUser(String user, String destination, Object payload) {
		String id = newId();
		this.template.convertAndSendToUser(user, destination, payload, headers(id, false));
		return id;
	}

	/**
	 * To every subscriber of a {@code /topic} destination, on every node, anonymous included.
	 * @return the message id
	 */
	public String convertAndSend(String destination, Object payload) {
		String id = newId();
		this.template.convertAndSend(destination, payload, headers(id, false));
		return id;
	}

	/**
	 * To the authenticated subscribers of a {@code /topic} destination, on every node; anonymous
	 * subscribers never get it.
	 * @return the message id
	 */
	public String convertAndSendToAuthenticated(String destination, Object payload) {
		String id = newId();
		this.template.convertAndSend(destination, payload, headers(id, true));
		return id;
	}

	private String newId() {
		return this.ids.generateId().toString();
	}

	private static MessageHeaders headers(String id, boolean authenticatedOnly) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		accessor.setHeader(RelayHeaders.MESSAGE_ID, id);
		if (authenticatedOnly) {
			accessor.setHeader(RelayHeaders.AUDIENCE, RelayHeaders.AUTHENTICATED);
		}
		accessor.setLeaveMutable(true);
		return accessor.getMessageHeaders();
	}

}
