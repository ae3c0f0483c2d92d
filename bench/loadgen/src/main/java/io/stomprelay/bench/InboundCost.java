package io.stomprelay.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * {@code inbound}: what one client frame costs the node that reads it. Opens {@code sessions}
 * authenticated sessions on one node, then sends {@code SEND} frames to an {@code /app}
 * destination no handler maps (so the figure is the frame's way in: the container's read, STOMP
 * decoding, the inbound channel with its interceptors, the hand-over to the application) at
 * {@code rate} frames/s in total, round-robin over the sessions, one frame per WebSocket message, as
 * browsers send them. After {@code warmup} seconds it reads the node's CPU time
 * ({@code /proc/<pid>/stat}) over {@code seconds} and prints one line: frames sent, frames measured,
 * the node's CPU per frame. Used by {@code bench/inbound.sh} (bench/PROFILE.md item 31).
 */
final class InboundCost {

	private final Map<String, String> args;

	InboundCost(Map<String, String> args) {
		this.args = args;
	}

	int run() throws Exception {
		String url = LoadGen.req(this.args, "ws");
		int sessions = Integer.parseInt(this.args.getOrDefault("sessions", "200"));
		int rate = Integer.parseInt(this.args.getOrDefault("rate", "10000"));
		CostWindow window = new CostWindow(this.args, 15);

		HttpClient http = HttpClient.newHttpClient();
		CountDownLatch connected = new CountDownLatch(sessions);
		Set<String> errors = ConcurrentHashMap.newKeySet();
		List<WebSocket> sockets = new ArrayList<>();
		for (int i = 0; i < sessions; i++) {
			WebSocket socket = http.newWebSocketBuilder().buildAsync(URI.create(url), new Frames(connected, errors)).join();
			socket.sendText("CONNECT\naccept-version:1.2\nhost:127.0.0.1\nheart-beat:0,0\nAuthorization:Bearer "
					+ Jwt.hs256(window.secret, "inbound-" + i, List.of("USER"), 3600) + "\n\n\0", true).join();
			sockets.add(socket);
		}
		if (!connected.await(60, TimeUnit.SECONDS)) {
			System.err.println("[inbound] " + connected.getCount() + " sessions not connected; errors: " + errors);
			return 1;
		}
		String frame = "SEND\ndestination:/app/bench-inbound\ncontent-type:text/plain\n\n" + "x".repeat(window.payload)
				+ "\0";
		// one tick per millisecond, each sending its share; a session whose last frame is still being
		// written is skipped (and counted), never sent to concurrently
		int perTick = Math.max(1, rate / 1000);
		long tickNanos = 1_000_000_000L * perTick / rate;
		CompletableFuture<?>[] pending = new CompletableFuture<?>[sessions];
		long sent = 0, skipped = 0, next = 0, sentBefore = -1;
		long tick = System.nanoTime();
		window.loadStarts();
		while (!window.over()) {
			if (sentBefore < 0 && window.warmedUp()) {
				window.open();
				sentBefore = sent;
			}
			for (int j = 0; j < perTick; j++) {
				int s = (int) (next++ % sessions);
				if (pending[s] != null && !pending[s].isDone()) {
					skipped++;
					continue;
				}
				pending[s] = sockets.get(s).sendText(frame, true);
				sent++;
			}
			tick += tickNanos;
			long wait = tick - System.nanoTime();
			if (wait > 0) {
				LockSupport.parkNanos(wait);
			}
		}
		long cpu = window.cpuMillis();
		long measured = sent - sentBefore;
		System.out.printf("sent=%d measured=%d skipped=%d errors=%d node_cpu_ms=%d us_per_frame=%.2f%n", sent, measured,
				skipped, errors.size(), cpu, cpu * 1000.0 / measured);
		errors.stream().findFirst().ifPresent(e -> System.err.println("[inbound] first ERROR frame: " + e));
		return errors.isEmpty() ? 0 : 1;
	}

	/** Counts CONNECTED frames and keeps ERROR frames; everything else is read and dropped. */
	private static final class Frames implements WebSocket.Listener {

		private final CountDownLatch connected;

		private final Set<String> errors;

		private final StringBuilder frame = new StringBuilder();

		Frames(CountDownLatch connected, Set<String> errors) {
			this.connected = connected;
			this.errors = errors;
		}

		@Override
		public CompletionStage<?> onText(WebSocket socket, CharSequence data, boolean last) {
			this.frame.append(data);
			if (last) {
				String text = this.frame.toString();
				this.frame.setLength(0);
				if (text.startsWith("CONNECTED")) {
					this.connected.countDown();
				}
				else if (text.startsWith("ERROR")) {
					this.errors.add(text.replace('\0', ' ').trim());
				}
			}
			socket.request(1);
			return null;
		}

	}

}
