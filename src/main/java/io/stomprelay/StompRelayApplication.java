package io.stomprelay;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;

/**
 * The production entry point: one stomp-relay node. It needs an external Redis and a JWT
 * verifier and never starts an embedded Redis (see {@code demo.launcher.DemoLauncher} for the
 * local two-node demo).
 */
@SpringBootApplication
@ConfigurationPropertiesScan
public class StompRelayApplication {

	public static void main(String[] args) {
		SpringApplication.run(StompRelayApplication.class, args);
	}

}
