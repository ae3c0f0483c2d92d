package com.example.chat;

import java.security.Principal;

import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.simp.annotation.SendToUser;
import org.springframework.stereotype.Controller;

/**
 * What a chat session can send: {@code /app/say} answers {@code echo:<text>} on
 * {@code /user/queue/replies} of every session of the sender, {@code /app/shout} goes to the room.
 */
@Controller
class ChatController {

	private final ShoutService shouts;

	ChatController(ShoutService shouts) {
		this.shouts = shouts;
	}

	@MessageMapping("/say")
	@SendToUser("/queue/replies")
	String say(String text) {
		return "echo:" + text;
	}

	@MessageMapping("/shout")
	void shout(String text, Principal sender) {
		this.shouts.shout((sender != null) ? sender.getName() : "anonymous", text);
	}

}
