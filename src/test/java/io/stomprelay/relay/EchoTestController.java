package io.stomprelay.relay;

import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.handler.annotation.Payload;
import org.springframework.messaging.handler.annotation.SendTo;
import org.springframework.stereotype.Controller;

/**
 * A test-only controller: SEND {@code /app/echo/{room}} is broadcast as is to {@code /topic/{room}}
 * (all kind, relayed to every node), so tests can use a fresh topic per round.
 */
@Controller
class EchoTestController {

	@MessageMapping("/echo/{room}")
	@SendTo("/topic/{room}")
	String echo(@Payload String text) {
		return text;
	}

}
