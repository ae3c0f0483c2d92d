package io.stomprelay.bench;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code loadgen storm}: the recovery storm of message history.
 *
 * <ol>
 * <li>{@code users} x {@code sessions-per-user} sessions connect (round-robin over the nodes) and
 * SUBSCRIBE {@code /user/queue/bench} with a {@code receipt}; every user gets one message (seq 0) so
 * every session has seen a {@code stream-position}.</li>
 * <li>Every session is cut at once (the generator closes its TCP connections, no DISCONNECT).</li>
 * <li>{@code missed} messages per user (seq 1..missed) go out through the HTTP push API
 * ({@code POST /api/messages/users/{user}}, {@code /queue/bench}) from {@code push-in-flight} lanes:
 * a lane sends its users' pushes one after the other and waits for each answer, so each user's
 * messages have one order.</li>
 * <li>All sessions reconnect at once and SUBSCRIBE with {@code resume-from:<last position seen>} and
 * a {@code receipt}; at the same moment {@code live} more rounds are pushed (seq missed+1..), so the
 * hand-over from recovery to live delivery is under load too.</li>
 * </ol>
 *
 * <p>Measured: the time from the reconnect until every session had its RECEIPT and every missed
 * message (per session: max(RECEIPT, last of seq 0..missed)); lost = expected - unique received
 * (expected = sessions x accepted pushes of their user, all 1 + missed + live rounds); duplicates
 * (a seq seen twice by one session, across the cut: a re-sent seq 0 counts); out of order; and the
 * RECEIPTs' {@code recovered} / {@code recovered-count} headers. A session told {@code recovered:false}
 * is not waited for (the server said it replays nothing: the client should reload); what it did not
 * get is counted apart from the loss of the sessions told {@code recovered:true}, which must be 0.
 * One JSON line, phase {@code recovery-storm}.
 */
final class HistoryStorm {

	private static final java.io.PrintStream LOG = System.err;

	private final Map<String, String> a;

	HistoryStorm(Map<String, String> a) {
		this.a = a;
	}

	int run() throws Exception {
		String system = a.getOrDefault("system", "stomp-relay-history");
		String[] ws = LoadGen.req(a, "ws").split(",");
		String publish = LoadGen.req(a, "publish");
		String secret = LoadGen.req(a, "secret");
		int users = Integer.parseInt(a.getOrDefault("users", "200"));
		int perUser = Integer.parseInt(a.getOrDefault("sessions-per-user", "2"));
		int missed = Integer.parseInt(a.getOrDefault("missed", "50"));
		int live = Integer.parseInt(a.getOrDefault("live", "5"));
		int payload = Integer.parseInt(a.getOrDefault("payload", "100"));
		int timeout = Integer.parseInt(a.getOrDefault("timeout", "60"));
		int inFlight = Integer.parseInt(a.getOrDefault("push-in-flight", "32"));
		int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
		long cutGraceMs = Long.parseLong(a.getOrDefault("cut-grace-ms", "1000"));
		String subscribeDestination = a.getOrDefault("destination", "/user/queue/bench");
		String pushDestination = subscribeDestination.replaceFirst("^/user", "");
		Path out = Path.of(a.getOrDefault("out", "results/results.jsonl"));
		Map<String, Long> pids = LoadGen.pids(a.getOrDefault("pids", ""));
		pids.put("generator", ProcessHandle.current().pid());
		FrameHandler.trackPositions = true;

		Map<String, Object> row = new LinkedHashMap<>();
		row.put("system", system);
		row.put("phase", "recovery-storm");
		row.put("nodes", ws.length);
		row.put("users", users);
		row.put("sessions", users * perUser);
		row.put("missed_per_user", missed);
		row.put("live_per_user", live);
		row.put("payload_bytes", payload);
		row.put("destination", subscribeDestination);

		long runId = System.currentTimeMillis() % 1_000_000_000L;
		int n = users * perUser;
		RunState state = new RunState(runId, n);
		state.completeBelow = 1 + missed; // seq 0 (before the cut) and the missed ones
		HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
			.connectTimeout(Duration.ofSeconds(5)).build();
		String admin = Jwt.hs256(secret, "bench-publisher", List.of("admin"), 3600);
		String pad = "x".repeat(Math.max(0, payload - 60));
		long[] accepted = new long[users]; // pushes accepted per user
		AtomicLong pushErrors = new AtomicLong();
		AtomicReference<String> firstPushError = new AtomicReference<>();

		try (WsClient client = new WsClient(threads, Protocol.STOMP, false, () -> state)) {
			// 1. connect, subscribe with a receipt, one message per user
			List<Session> sessions = new ArrayList<>();
			for (int u = 0; u < users; u++) {
				String token = Jwt.hs256(secret, "u" + u, List.of("USER"), 3600);
				for (int k = 0; k < perUser; k++) {
					Session s = new Session(sessions.size(), "u" + u, token, k % ws.length, ws[k % ws.length]);
					s.subscribeFrames = new String[] { subscribe(s.index, subscribeDestination, null) };
					sessions.add(s);
				}
			}
			int failed = LoadGen.openAll(client, sessions, null, 64, true, 120);
			int noReceipt = awaitReceipts(sessions, timeout);
			LOG.printf("[%s/storm] %d sessions connected (%d failed), %d without a subscribe RECEIPT%n", system, n - failed,
					failed, noReceipt);
			if (failed > 0 || noReceipt > 0) {
				return error(out, row, failed + " sessions failed to connect, " + noReceipt
						+ " got no RECEIPT for SUBSCRIBE (first ERROR: " + firstError(sessions) + ")");
			}
			pushRounds(http, publish, admin, pushDestination, users, 0, 0, runId, pad, inFlight, accepted, pushErrors,
					firstPushError);
			long primeDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
			while (System.nanoTime() < primeDeadline
					&& (state.total.sum() < n || sessions.stream().anyMatch(s -> s.lastPosition == null))) {
				Thread.sleep(20);
			}
			long noPosition = sessions.stream().filter(s -> s.lastPosition == null).count();
			row.put("example_position", sessions.get(0).lastPosition);
			if (noPosition > 0) {
				return error(out, row, noPosition + " of " + n + " sessions saw no MESSAGE with a stream-position header "
						+ "after one message per user (received " + state.total.sum() + " of " + n + ")");
			}

			// 2. cut every session at once
			long cut0 = System.nanoTime();
			for (Session s : sessions) {
				s.channel.close();
			}
			for (Session s : sessions) {
				s.channel.closeFuture().await(10, TimeUnit.SECONDS);
			}
			row.put("cut_ms", LoadGen.ms((System.nanoTime() - cut0) / 1000));
			Thread.sleep(cutGraceMs); // the nodes see the closes

			// 3. the missed messages
			long pub0 = System.nanoTime();
			pushRounds(http, publish, admin, pushDestination, users, 1, missed, runId, pad, inFlight, accepted, pushErrors,
					firstPushError);
			row.put("missed_publish_ms", LoadGen.ms((System.nanoTime() - pub0) / 1000));
			long receivedWhileAway = state.total.sum() - n;
			LOG.printf("[%s/storm] cut %d sessions, pushed %d x %d users in %.0f ms (%d deliveries while away)%n",
					system, n, missed, users, (System.nanoTime() - pub0) / 1e6, receivedWhileAway);

			// 4. everyone reconnects at once with resume-from; live rounds pushed meanwhile
			List<Session> again = new ArrayList<>();
			for (Session old : sessions) {
				Session s = old.reconnect();
				s.lastPosition = old.lastPosition;
				s.subscribeFrames = new String[] { subscribe(s.index, subscribeDestination, old.lastPosition) };
				again.add(s);
			}
			Map<String, Long> cpu0 = ProcCpu.snapshot(pids);
			long t0 = System.nanoTime();
			Thread liveThread = new Thread(() -> {
				try {
					pushRounds(http, publish, admin, pushDestination, users, missed + 1, missed + live, runId, pad,
							inFlight, accepted, pushErrors, firstPushError);
				}
				catch (Exception ex) {
					firstPushError.compareAndSet(null, String.valueOf(ex));
				}
			}, "storm-live");
			liveThread.start();
			int refailed = LoadGen.openAll(client, again, null, n, true, timeout);
			long connectedMs = (System.nanoTime() - t0) / 1_000_000;
			long deadline = t0 + TimeUnit.SECONDS.toNanos(timeout);
			// until every session has its RECEIPT and, unless told recovered:false, all its missed messages
			while (System.nanoTime() < deadline && (again.stream().anyMatch(s -> !s.receipt.isDone())
					|| state.completed.sum() + again.stream().filter(s -> toldNotRecovered(s)).count() < n)) {
				Thread.sleep(5);
			}
			long doneNanos = System.nanoTime();
			liveThread.join(TimeUnit.SECONDS.toMillis(timeout));
			// the live rounds: until every expected delivery arrived, at most 5 s after the last push
			long expected = 0;
			for (Session s : sessions) {
				expected += accepted[Integer.parseInt(s.user.substring(1))];
			}
			long drain = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
			while (state.total.sum() < expected && System.nanoTime() < drain) {
				Thread.sleep(20);
			}
			Map<String, Long> cpu1 = ProcCpu.snapshot(pids);
			for (var e : client.group()) { // barrier: per-session arrays are written on the event loops
				e.submit(() -> {
				}).syncUninterruptibly();
			}

			// 5. the figures
			long[] doneMicros = new long[n];
			int incomplete = 0;
			long lostRecovered = 0; // sessions told recovered:true (or without the header): must be 0
			long dupsRecovered = 0;
			long notReplayed = 0; // sessions told recovered:false: what they did not get
			long recoveredMaxMicros = 0;
			int receipts = 0;
			int recoveredTrue = 0;
			int recoveredFalse = 0;
			int recoveredOther = 0;
			long recoveredCount = 0;
			long minCount = Long.MAX_VALUE;
			long maxCount = -1;
			long lastReceipt = 0;
			String exampleReceipt = null;
			for (Session s : again) {
				int i = s.index;
				String r = s.receipt.isDone() && !s.receipt.isCompletedExceptionally() ? s.receipt.getNow(null) : null;
				if (r != null) {
					receipts++;
					lastReceipt = Math.max(lastReceipt, s.receiptNanos - t0);
					if (exampleReceipt == null) {
						exampleReceipt = r.replace('\n', '|');
					}
					String rec = FrameHandler.header(r, "recovered", r.length());
					if ("true".equals(rec)) {
						recoveredTrue++;
					}
					else if ("false".equals(rec)) {
						recoveredFalse++;
					}
					else {
						recoveredOther++;
					}
					String c = FrameHandler.header(r, "recovered-count", r.length());
					if (c != null && c.matches("\\d+")) {
						long v = Long.parseLong(c);
						recoveredCount += v;
						minCount = Math.min(minCount, v);
						maxCount = Math.max(maxCount, v);
					}
				}
				long should = accepted[Integer.parseInt(s.user.substring(1))];
				if (toldNotRecovered(s)) {
					notReplayed += should - state.received[i];
				}
				else {
					lostRecovered += should - state.received[i];
					dupsRecovered += state.duplicates[i];
				}
				if (r == null || state.completeNanos[i] == 0) {
					incomplete++;
					doneMicros[i] = Long.MAX_VALUE;
				}
				else {
					doneMicros[i] = (Math.max(s.receiptNanos, state.completeNanos[i]) - t0) / 1000;
					recoveredMaxMicros = Math.max(recoveredMaxMicros, doneMicros[i]);
				}
			}
			long[] sorted = doneMicros.clone();
			Arrays.sort(sorted);
			long received = Arrays.stream(state.received).sum();
			long dups = Arrays.stream(state.duplicates).sum();
			long ooo = Arrays.stream(state.outOfOrder).sum();
			row.put("reconnect_failed", refailed);
			row.put("all_connected_ms", connectedMs);
			row.put("receipts", receipts);
			row.put("all_receipts_ms", receipts == n ? LoadGen.ms(lastReceipt / 1000) : null);
			row.put("recovered_true", recoveredTrue);
			row.put("recovered_false", recoveredFalse);
			row.put("recovered_header_missing", recoveredOther);
			row.put("recovered_count_sum", recoveredCount);
			row.put("recovered_count_min", maxCount < 0 ? null : minCount);
			row.put("recovered_count_max", maxCount < 0 ? null : maxCount);
			row.put("example_receipt", exampleReceipt);
			row.put("sessions_incomplete", incomplete);
			row.put("recovery_ms", incomplete > 0 ? null : LoadGen.ms(sorted[n - 1]));
			row.put("recovered_sessions_ms", n - incomplete == 0 ? null : LoadGen.ms(recoveredMaxMicros));
			row.put("recovery_p50_ms", sorted[n / 2] == Long.MAX_VALUE ? null : LoadGen.ms(sorted[n / 2]));
			row.put("recovery_p99_ms", sorted[(int) Math.min(n - 1, Math.ceil(n * 0.99) - 1)] == Long.MAX_VALUE ? null
					: LoadGen.ms(sorted[(int) Math.min(n - 1, Math.ceil(n * 0.99) - 1)]));
			row.put("waited_ms", (doneNanos - t0) / 1_000_000);
			row.put("pushes_accepted", Arrays.stream(accepted).sum());
			row.put("push_errors", pushErrors.get());
			row.put("first_push_error", firstPushError.get());
			row.put("received_while_away", receivedWhileAway);
			row.put("expected", expected);
			row.put("received", received);
			row.put("lost", expected - received);
			row.put("duplicates", dups);
			row.put("out_of_order", ooo);
			row.put("lost_in_recovered_sessions", lostRecovered);
			row.put("duplicates_in_recovered_sessions", dupsRecovered);
			row.put("not_replayed_recovered_false", notReplayed);
			row.put("stale", state.stale.sum());
			row.put("stream_gap_messages", FrameHandler.gaps.sum());
			row.put("first_error", firstError(again));
			Map<String, Object> cpuMs = new LinkedHashMap<>();
			for (String name : pids.keySet()) {
				cpuMs.put(name, cpu1.get(name) - cpu0.get(name));
			}
			row.put("cpu_ms", cpuMs);
			row.put("ok", incomplete == 0 && refailed == 0 && expected == received && dups == 0 && ooo == 0
					&& pushErrors.get() == 0);
			row.put("ts", java.time.Instant.now().toString());
			LoadGen.emit(out, row);
			LOG.printf("[%s/storm] %d sessions back: connected in %d ms, receipts %d (recovered true %d / false %d, "
					+ "count sum %d), complete in %s ms (p50 %s, p99 %s), %d incomplete; expected %d received %d lost %d "
					+ "dup %d ooo %d push errors %d%n", system, n, connectedMs, receipts, recoveredTrue, recoveredFalse,
					recoveredCount, row.get("recovery_ms"), row.get("recovery_p50_ms"), row.get("recovery_p99_ms"),
					incomplete, expected, received, expected - received, dups, ooo, pushErrors.get());
			for (Session s : again) {
				if (s.channel != null) {
					s.channel.close();
				}
			}
		}
		return 0;
	}

	private static String subscribe(int index, String destination, String resumeFrom) {
		return "SUBSCRIBE\nid:0\ndestination:" + destination + "\n"
				+ (resumeFrom == null ? "" : "resume-from:" + resumeFrom + "\n") + "receipt:sub-" + index + "\n\n\0";
	}

	/** Waits for every session's RECEIPT (or its failure); returns how many have none. */
	private static int awaitReceipts(List<Session> sessions, int timeoutSeconds) {
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
		int missing = 0;
		for (Session s : sessions) {
			try {
				s.receipt.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
			}
			catch (Exception ex) {
				missing++;
			}
		}
		return missing;
	}

	private static String firstError(List<Session> sessions) {
		return sessions.stream().map(s -> s.error).filter(e -> e != null).findFirst().orElse(null);
	}

	/** Whether the session's RECEIPT said {@code recovered:false} (nothing replayed). */
	private static boolean toldNotRecovered(Session s) {
		String r = s.receipt.isDone() && !s.receipt.isCompletedExceptionally() ? s.receipt.getNow(null) : null;
		return r != null && "false".equals(FrameHandler.header(r, "recovered", r.length()));
	}

	/**
	 * Pushes seq {@code from..to} to every user from {@code lanes} threads: lane j sends, for each seq,
	 * to users j, j+lanes, ... one request at a time and waits for each answer, so one user's messages
	 * go out in seq order. Returns when every lane is done (each request times out after 30 s).
	 */
	private static void pushRounds(HttpClient http, String publish, String admin, String destination, int users,
			int from, int to, long runId, String pad, int lanes, long[] accepted, AtomicLong errors,
			AtomicReference<String> firstError) throws InterruptedException {
		List<Thread> threads = new ArrayList<>();
		for (int l = 0; l < Math.min(lanes, users); l++) {
			int lane = l;
			Thread t = new Thread(() -> {
				for (int seq = from; seq <= to; seq++) {
					for (int u = lane; u < users; u += lanes) {
						String body = "{\"destination\":\"" + destination + "\",\"payload\":{\"run\":" + runId
								+ ",\"seq\":" + seq + ",\"sent\":" + FrameHandler.epochMicros() + ",\"pad\":\"" + pad
								+ "\"}}";
						HttpRequest req = HttpRequest.newBuilder(URI.create(publish + "/api/messages/users/u" + u))
							.timeout(Duration.ofSeconds(30))
							.header("Content-Type", "application/json")
							.header("Authorization", "Bearer " + admin)
							.POST(HttpRequest.BodyPublishers.ofString(body))
							.build();
						try {
							HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
							if (resp.statusCode() / 100 == 2) {
								synchronized (accepted) {
									accepted[u]++;
								}
								continue;
							}
							firstError.compareAndSet(null, resp.statusCode() + " " + resp.body());
						}
						catch (Exception ex) {
							firstError.compareAndSet(null, String.valueOf(ex));
						}
						errors.incrementAndGet();
					}
				}
			}, "storm-push-" + l);
			t.start();
			threads.add(t);
		}
		for (Thread t : threads) {
			t.join();
		}
	}

	private static int error(Path out, Map<String, Object> row, String message) throws Exception {
		row.put("ok", false);
		row.put("error", message);
		row.put("ts", java.time.Instant.now().toString());
		LoadGen.emit(out, row);
		LOG.println("[storm] " + message);
		return 2;
	}

}
