package io.stomprelay.relay;

import org.springframework.messaging.handler.annotation.MessageMapping;
import org.springframework.messaging.simp.annotation.SendToUser;
import org.springframework.stereotype.Controller;

/**
 * A test-only controller replying with {@code @SendToUser(broadcast = false)}.
 */
@Controller
class OnlyMeTestController {

	@MessageMapping("/test/only-me")
	@SendToUser(destinations = "/queue/only-me", broadcast = false)
	String onlyMe() {
		return "only-me";
	}

}
