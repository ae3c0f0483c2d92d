package io.stomprelay.loadtest;

import java.util.Map;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code POST /api/loadtest/runs}: starts one open-loop publisher run and answers when it is
 * done with {@code {"runId":..,"planned":..,"sent":..}}; 409 while another run is going, 400
 * on bad input. Enabled only by {@code stomp-relay.loadtest.enabled=true}; the product's HTTP
 * security asks for a JWT with role {@code admin}, like the push API.
 */
@RestController
@RequestMapping("/api/loadtest")
@ConditionalOnProperty(prefix = "stomp-relay.loadtest", name = "enabled", havingValue = "true")
public class LoadTestController {

	private final LoadTestPublisher publisher;

	/**
	 * Creates the controller.
	 * @param publisher the publisher that does the work
	 */
	public LoadTestController(LoadTestPublisher publisher) {
		this.publisher = publisher;
	}

	/**
	 * Runs the publisher and reports what it sent.
	 * @param request the run
	 * @return the result, or an error body
	 * @throws InterruptedException if interrupted while waiting for the run
	 */
	@PostMapping("/runs")
	public ResponseEntity<?> run(@RequestBody LoadTestRequest request) throws InterruptedException {
		try {
			return ResponseEntity.ok(this.publisher.run(request));
		}
		catch (IllegalArgumentException ex) {
			return ResponseEntity.badRequest().body(Map.of("error", ex.getMessage()));
		}
		catch (IllegalStateException ex) {
			return ResponseEntity.status(HttpStatus.CONFLICT).body(Map.of("error", ex.getMessage()));
		}
	}

}
