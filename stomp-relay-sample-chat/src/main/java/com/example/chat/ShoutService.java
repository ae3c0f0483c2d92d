package com.example.chat;

import org.springframework.messaging.simp.SimpMessagingTemplate;
import org.springframework.stereotype.Service;

/**
 * Speaks to everyone in the room, {@code /topic/room}, with Spring's {@link SimpMessagingTemplate}.
 */
@Service
public class ShoutService {

	private final SimpMessagingTemplate messaging;

	public ShoutService(SimpMessagingTemplate messaging) {
		this.messaging = messaging;
	}

	public void shout(String from, String text) {
		this.messaging.convertAndSend("/topic/room", from + ": " + text);
	}

}
