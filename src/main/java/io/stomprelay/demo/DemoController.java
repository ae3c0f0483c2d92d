package io.stomprelay.demo;

import java.security.Principal;
import java.util.Map;

import io.stomprelay.relay.ClusterMessagingTemplate;
import io.stomprelay.system.NodeIdentity;

import org.springframework.messaging.MessageHeaders;
import org.springframework.messaging.handler.annotation.Header;
import org.springframework.messaging.handler.annotation.MessageExceptionHandler;
import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.handler.annotation.Payload;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.messaging.simp.annotation.SendToUser;
import org.springframework.stereotype.Controller;

/**
 * The demo application, plain Spring messaging with no knowledge of nodes:
 * <ul>
 * <li>{@code /app/events}: replies {@code 1}, {@code 2}, {@code 3} to {@code /user/queue/events}
 * (every session of the sender's user; an anonymous sender's own session only);</li>
 * <li>{@code /app/chat}: broadcasts to {@code /topic/chat};</li>
 * <li>{@code /app/direct}: to the recipient's {@code /user/queue/direct};</li>
 * <li>{@code /app/announce}: to {@code /topic/announcements}, authenticated subscribers only.</li>
 * </ul>
 * Input errors (empty or too long text, no recipient) go to the sender's {@code /user/queue/errors}
 * as {@code {"error": "..."}}; a body that is not valid JSON ends the session with an {@code ERROR}.
 */
@Controller
class DemoController {

	static final String ORIGIN_NODE_HEADER = "origin-node";

	private static final int MAX_TEXT = 1000;

	private final SimpMessagingTemplate template;

	private final ClusterMessagingTemplate cluster;

	private final NodeIdentity node;

	DemoController(SimpMessagingTemplate template, ClusterMessagingTemplate cluster, NodeIdentity node) {
		this.template = template;
		this.cluster = cluster;
		this.node = node;
	}

	@MessageMapping("/events")
	void events(Principal user, @Header(SimpMessageHeaderAccessor.SESSION_ID_HEADER) String sessionId) {
		for (int value = 1; value <= 3; value++) {
			if (user != null) {
				this.template.convertAndSendToUser(user.getName(), "/queue/events", value, eventHeaders(null));
			}
			else {
				this.template.convertAndSendToUser(sessionId, "/queue/events", value, eventHeaders(sessionId));
			}
		}
	}

	@MessageMapping("/chat")
	void chat(@Payload ChatRequest request, Principal user) {
		this.template.convertAndSend("/topic/chat", message(signedIn(user), request.text()));
	}

	@MessageMapping("/direct")
	void direct(@Payload DirectRequest request, Principal user) {
		String from = signedIn(user);
		if (request.to() == null || request.to().isBlank()) {
			throw new DemoInputException("recipient is required");
		}
		this.template.convertAndSendToUser(request.to(), "/queue/direct", message(from, request.text()));
	}

	@MessageMapping("/announce")
	void announce(@Payload ChatRequest request, Principal user) {
		this.cluster.convertAndSendToAuthenticated("/topic/announcements", message(signedIn(user), request.text()));
	}

	@MessageExceptionHandler(DemoInputException.class)
	@SendToUser(destinations = "/queue/errors", broadcast = false)
	Map<String, String> inputError(DemoInputException ex) {
		return Map.of("error", ex.getMessage());
	}

	private ChatMessage message(String from, String text) {
		if (text == null || text.isBlank()) {
			throw new DemoInputException("text is required");
		}
		if (text.length() > MAX_TEXT) {
			throw new DemoInputException("text is longer than " + MAX_TEXT + " characters");
		}
		return new ChatMessage(from, text, this.node.id(), System.currentTimeMillis());
	}

	private static String signedIn(Principal user) {
		if (user == null) {
			throw new DemoInputException("sign in first");
		}
		return user.getName();
	}

	private MessageHeaders eventHeaders(String sessionId) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		accessor.setNativeHeader(ORIGIN_NODE_HEADER, this.node.id());
		if (sessionId != null) {
			accessor.setSessionId(sessionId);
		}
		accessor.setLeaveMutable(true);
		return accessor.getMessageHeaders();
	}

	/** Bad input to a demo destination; its message is safe to show. */
	static final class DemoInputException extends RuntimeException {

		DemoInputException(String message) {
			super(message, null, false, false);
		}

	}

}
