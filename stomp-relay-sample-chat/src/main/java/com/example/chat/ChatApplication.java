package com.example.chat;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * A small STOMP chat: {@code /app/say} echoes to every session of the sender, {@code /app/shout}
 * speaks to everyone in {@code /topic/room}. It is an ordinary Spring application; the only thing
 * that makes several instances of it one chat is the stomp-relay starter on its classpath and a Redis
 * at {@code spring.data.redis.url}.
 */
@SpringBootApplication
public class ChatApplication {

	public static void main(String[] args) {
		SpringApplication.run(ChatApplication.class, args);
	}

}
