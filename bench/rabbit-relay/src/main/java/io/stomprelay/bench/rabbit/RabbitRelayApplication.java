package io.stomprelay.bench.rabbit;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Benchmark peer: one node of plain Spring STOMP over WebSocket, relaying {@code /topic} and
 * {@code /queue} to RabbitMQ's STOMP plugin. Also scans the product's load-test publisher.
 */
@SpringBootApplication(scanBasePackages = { "io.stomprelay.bench.rabbit", "io.stomprelay.loadtest" })
public class RabbitRelayApplication {

	public static void main(String[] args) {
		SpringApplication.run(RabbitRelayApplication.class, args);
	}

}
