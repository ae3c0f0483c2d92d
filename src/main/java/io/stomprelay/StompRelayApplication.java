package io.stomprelay;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import io.stomprelay.demo.DemoProperties;

import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Import;

/**
 * The production entry point: one stomp-relay node, built on the stomp-relay starter (whose
 * auto-configuration brings the relay, the endpoint and the connection rules). This application adds
 * the HTTP security, the push API, the demo and the load-test publisher; it scans only those
 * packages. It needs an external Redis and a JWT verifier and never starts an embedded Redis (see
 * {@code demo.launcher.DemoLauncher} for the local two-node demo).
 */
@SpringBootApplication(scanBasePackages = { "io.stomprelay.demo", "io.stomprelay.api", "io.stomprelay.loadtest" })
@Import(HttpSecurityConfiguration.class)
@EnableConfigurationProperties(DemoProperties.class)
public class StompRelayApplication {

	public static void main(String[] args) {
		SpringApplication.run(StompRelayApplication.class, args);
	}

}
