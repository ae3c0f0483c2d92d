package com.example.chat;

import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * A plain HTTP endpoint of the chat, open to everyone.
 */
@RestController
class HelloController {

	@GetMapping("/hello")
	String hello() {
		return "hello from the chat";
	}

}
