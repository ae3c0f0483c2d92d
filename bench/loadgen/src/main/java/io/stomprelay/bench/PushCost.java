package io.stomprelay.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code push}: what one message sent through the HTTP push API costs the node that takes it.
 * {@code threads} clients post back to back, each on its own HTTP/1.1 keep-alive connection,
 * {@code POST /api/messages/users/<user>} with a {@code payload}-byte text in a JSON payload, for
 * users with no session (so the figure is the request and the relay's publish, not a delivery).
 * After {@code warmup} seconds it reads the node's CPU time ({@code /proc/<pid>/stat}) over
 * {@code seconds} and prints one line: accepted requests, their rate, the node's CPU per request.
 * Used by {@code MODE=push bash bench/inbound.sh} (bench/PROFILE.md item 32).
 */
final class PushCost {

	private final Map<String, String> args;

	PushCost(Map<String, String> args) {
		this.args = args;
	}

	int run() throws Exception {
		String base = LoadGen.req(this.args, "http");
		int threads = Integer.parseInt(this.args.getOrDefault("threads", "4"));
		CostWindow window = new CostWindow(this.args, 70);

		String token = Jwt.hs256(window.secret, "bench-pusher", List.of("admin"), 3600);
		String body = "{\"destination\":\"/queue/bench\",\"payload\":{\"text\":\"" + "x".repeat(window.payload) + "\"}}";
		window.loadStarts();
		AtomicLong accepted = new AtomicLong();
		AtomicLong failed = new AtomicLong();
		AtomicReference<String> lastFailure = new AtomicReference<>();
		List<Thread> posters = new ArrayList<>();
		for (int t = 0; t < threads; t++) {
			String user = "nobody-" + t;
			Thread poster = new Thread(() -> {
				HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
				HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/api/messages/users/" + user))
					.header("Authorization", "Bearer " + token)
					.header("Content-Type", "application/json")
					.POST(HttpRequest.BodyPublishers.ofString(body))
					.build();
				while (!window.over()) {
					try {
						HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
						if (response.statusCode() == 202) {
							accepted.incrementAndGet();
						}
						else {
							failed.incrementAndGet();
							lastFailure.set(response.statusCode() + " " + response.body());
						}
					}
					catch (Exception ex) {
						failed.incrementAndGet();
						lastFailure.set(ex.toString());
					}
				}
			}, "pusher-" + t);
			poster.start();
			posters.add(poster);
		}
		window.awaitOpen();
		long acceptedBefore = accepted.get();
		window.awaitEnd();
		long cpu = window.cpuMillis();
		long measured = accepted.get() - acceptedBefore;
		for (Thread poster : posters) {
			poster.join();
		}
		System.out.printf("requests=%d per_s=%.0f failed=%d node_cpu_ms=%d us_per_request=%.1f%n", measured,
				measured / (double) window.seconds, failed.get(), cpu, cpu * 1000.0 / Math.max(1, measured));
		if (lastFailure.get() != null) {
			System.err.println("[push] last failure: " + lastFailure.get());
		}
		return failed.get() == 0 ? 0 : 1;
	}

}
