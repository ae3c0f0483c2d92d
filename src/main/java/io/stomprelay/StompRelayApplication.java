package io.stomprelay;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import io.stomprelay.demo.DemoProperties;

import org.springframework.boot.context.properties.EnableConfigurationProperties;

/**
 * The production entry point: one stomp-relay node, built on the stomp-relay starter (whose
 * auto-configuration brings the relay, the endpoint, the connection rules and the push API, all turned
 * on in its {@code application.yml}). This application adds the demo and the load-test publisher; it
 * scans only those packages. It needs an external Redis and a JWT verifier and never starts an embedded Redis (see
 * {@code demo.launcher.DemoLauncher} for the local two-node demo).
 */
@SpringBootApplication(scanBasePackages = { "io.stomprelay.demo", "io.stomprelay.loadtest" })
@EnableConfigurationProperties(DemoProperties.class)
public class StompRelayApplication {

	public static void main(String[] args) {
		SpringApplication.run(StompRelayApplication.class, args);
	}

}
