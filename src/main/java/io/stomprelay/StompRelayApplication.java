package io.stomprelay;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import io.stomprelay.demo.DemoProperties;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.security.config.observation.SecurityObservationSettings;

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

	/**
	 * Spring Security records no observations in the server. With Micrometer present it would wrap
	 * the authorization of every inbound STOMP frame (and the filter chain of every HTTP request) in
	 * an observation with its timers and, with tracing, a span: about 4 KB of garbage and a sixth of
	 * the CPU of every client frame, a quarter of every HTTP push's (bench/PROFILE.md items 31-32),
	 * for figures the server's own meters already give (refused frames by reason,
	 * {@code http.server.requests}).
	 * {@code stomp-relay.observations.spring-security=true} keeps Spring Security's default.
	 */
	@Bean
	@ConditionalOnProperty(name = "stomp-relay.observations.spring-security", havingValue = "false", matchIfMissing = true)
	static SecurityObservationSettings noSpringSecurityObservations() {
		return SecurityObservationSettings.noObservations();
	}

}
