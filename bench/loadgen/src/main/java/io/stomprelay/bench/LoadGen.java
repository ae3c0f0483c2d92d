package io.stomprelay.bench;

import io.netty.util.concurrent.EventExecutor;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.HdrHistogram.Histogram;

/**
 * The benchmark load generator.
 *
 * <p>{@code run}: opens {@code users} x {@code sessions-per-user} WebSocket sessions spread
 * round-robin over the given node URLs, subscribes them, then for each workload ({@code user}:
 * {@code /user/queue/bench} to random users; {@code topic}: {@code /topic/bench} to everyone)
 * steps the offered delivery rate up, triggering the server-side open-loop publisher over HTTP
 * for each step, and writes one JSON line per (system, workload, rate). The highest rate with
 * zero loss and p99 under the limit is the peak; one more run at half the peak follows.
 *
 * <p>{@code idle}: opens idle authenticated sessions in stages against one node and records the
 * node's heap used after a full GC and its RSS per connection.
 *
 * <p>{@code scale}: one session per user, user {@code u<k>} on node {@code k mod N}; a fixed-rate
 * publisher on one node; every node's relay counters ({@code /actuator/prometheus}) read before and
 * after each step, and one JSON line per node: how much Redis sent it against its share of the
 * sessions.
 *
 * <p>{@code storm} ({@link HistoryStorm}): message history's recovery after every session is cut
 * at once.
 *
 * <p>{@code inbound} ({@link InboundCost}): the node's CPU per client {@code SEND} frame;
 * {@code push} ({@link PushCost}): per message sent through the HTTP push API.
 */
public final class LoadGen {

	private static final PrintStream LOG = System.err;

	private volatile RunState current;

	/** The state of the last {@link #runOnce} (for per-node breakdowns). */
	private RunState lastRun;

	/** The nodes' HS256 secret: the publisher endpoint wants an admin token signed with it. */
	private String secret;

	private LoadGen() {
	}

	public static void main(String[] argv) throws Exception {
		if (argv.length == 0 || !(argv[0].equals("run") || argv[0].equals("idle") || argv[0].equals("scale")
				|| argv[0].equals("storm") || argv[0].equals("inbound") || argv[0].equals("push"))) {
			LOG.println("usage: loadgen run|idle|scale|storm|inbound|push --key value ... (see bench/README.md)");
			System.exit(64);
		}
		Map<String, String> a = parse(Arrays.copyOfRange(argv, 1, argv.length));
		int rc = switch (argv[0]) {
			case "run" -> new LoadGen().run(a);
			case "scale" -> new LoadGen().scale(a);
			case "storm" -> new HistoryStorm(a).run();
			case "inbound" -> new InboundCost(a).run();
			case "push" -> new PushCost(a).run();
			default -> new LoadGen().idle(a);
		};
		System.exit(rc);
	}

	// ------------------------------------------------------------------ run

	private int run(Map<String, String> a) throws Exception {
		String system = req(a, "system");
		Protocol protocol = Protocol.valueOf(a.getOrDefault("protocol", "stomp").toUpperCase());
		String[] ws = req(a, "ws").split(",");
		String publish = req(a, "publish");
		String secret = req(a, "secret");
		this.secret = secret;
		int users = Integer.parseInt(a.getOrDefault("users", "200"));
		int perUser = Integer.parseInt(a.getOrDefault("sessions-per-user", "2"));
		String[] workloads = a.getOrDefault("workloads", "user,topic").split(",");
		long[] rates = Arrays.stream(a.getOrDefault("rates", "2000,5000,10000,20000,40000,60000").split(","))
			.mapToLong(Long::parseLong)
			.toArray();
		int seconds = Integer.parseInt(a.getOrDefault("seconds", "8"));
		int payload = Integer.parseInt(a.getOrDefault("payload", "100"));
		double maxP99Ms = Double.parseDouble(a.getOrDefault("max-p99-ms", "100"));
		int drainSeconds = Integer.parseInt(a.getOrDefault("drain", "5"));
		int settle = Integer.parseInt(a.getOrDefault("settle", "3"));
		boolean deflate = a.containsKey("deflate");
		int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
		long warmRate = Long.parseLong(a.getOrDefault("warmup-rate", "2000"));
		int warmSeconds = Integer.parseInt(a.getOrDefault("warmup-seconds", "5"));
		int retries = Integer.parseInt(a.getOrDefault("retries", "1"));
		Path out = Path.of(a.getOrDefault("out", "results/results.jsonl"));
		// optional: one more step at the peak of this workload with a JFR recording of this pid
		long profilePid = Long.parseLong(a.getOrDefault("profile-pid", "0"));
		String profileWorkload = a.getOrDefault("profile-workload", "user");
		Path profileOut = Path.of(a.getOrDefault("profile-out", "profile.jfr")).toAbsolutePath();
		Map<String, Long> pids = pids(a.getOrDefault("pids", ""));
		pids.put("generator", ProcessHandle.current().pid());
		// message history on the server: count the MESSAGE frames that carry a stream-position header
		FrameHandler.trackPositions = a.containsKey("history");

		Map<String, Object> common = new LinkedHashMap<>();
		common.put("system", system);
		common.put("protocol", protocol.name().toLowerCase());
		common.put("nodes", ws.length);
		common.put("users", users);
		common.put("sessions", users * perUser);
		common.put("payload_bytes", payload);
		common.put("seconds", seconds);
		common.put("deflate", deflate);

		HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
		List<Session> sessions = new ArrayList<>();
		try (WsClient client = new WsClient(threads, protocol, deflate, () -> this.current)) {
			for (int u = 0; u < users; u++) {
				String user = "u" + u;
				String token = Jwt.hs256(secret, user, List.of("USER"), 3600);
				for (int k = 0; k < perUser; k++) {
					sessions.add(new Session(sessions.size(), user, token, k % ws.length, ws[k % ws.length]));
				}
			}
			long t0 = System.nanoTime();
			int failedSessions = openAll(client, sessions, null, 64, true, 120);
			LOG.printf("[%s] %d sessions ready (%d failed) in %d ms%n", system, sessions.size() - failedSessions,
					failedSessions, (System.nanoTime() - t0) / 1_000_000);
			if (failedSessions > 0) {
				Map<String, Object> err = new LinkedHashMap<>(common);
				err.put("phase", "error");
				err.put("error", failedSessions + " of " + sessions.size() + " sessions failed to connect/authenticate");
				emit(out, err);
				return 2;
			}
			Thread.sleep(settle * 1000L);

			long profilePeak = 0; // the peak of the workload to record with JFR at the end
			for (String workload : workloads) {
				int fanout = fanout(workload, sessions.size(), perUser);
				// warm-up (JIT, and for the RabbitMQ relay: wait for the user registry broadcast)
				boolean warm = false;
				for (int i = 0; i < 6 && !warm; i++) {
					Map<String, Object> r = runOnce(http, client, publish, workload, users, fanout, sessions.size(),
							warmRate, warmSeconds, payload, drainSeconds, pids, maxP99Ms);
					warm = ((long) r.get("loss")) == 0;
					LOG.printf("[%s/%s] warm-up %d: loss=%s p99=%sms%n", system, workload, i, r.get("loss"),
							r.get("p99_ms"));
				}
				long peak = 0;
				Map<String, Object> peakRow = null;
				boolean failed = false;
				for (long rate : rates) {
					Map<String, Object> r = null;
					// a failing step is tried again (retries times) before the search stops: one noisy
					// run on a shared 2-core machine should not decide the peak
					for (int attempt = 0; attempt <= retries; attempt++) {
						r = runOnce(http, client, publish, workload, users, fanout, sessions.size(), rate, seconds,
								payload, drainSeconds, pids, maxP99Ms);
						Map<String, Object> row = new LinkedHashMap<>(common);
						row.put("workload", workload);
						row.put("phase", "step");
						row.put("attempt", attempt);
						row.putAll(r);
						emit(out, row);
						LOG.printf("[%s/%s] rate=%d attempt=%d recv=%s loss=%s dup=%s ooo=%s p99=%sms ok=%s%n", system,
								workload, rate, attempt, r.get("received"), r.get("loss"), r.get("duplicates"),
								r.get("out_of_order"), r.get("p99_ms"), r.get("ok"));
						if ((boolean) r.get("ok")) {
							break;
						}
						Thread.sleep(2000);
					}
					if (!(boolean) r.get("ok")) {
						failed = true;
						break;
					}
					peak = rate;
					peakRow = r;
				}
				Map<String, Object> summary = new LinkedHashMap<>(common);
				summary.put("workload", workload);
				summary.put("phase", "summary");
				summary.put("peak_rate", peak);
				summary.put("peak_is_top_step", !failed);
				if (peakRow != null) {
					summary.put("p99_ms_at_peak", peakRow.get("p99_ms"));
					summary.put("server_cpu_us_per_delivery_at_peak", peakRow.get("server_cpu_us_per_delivery"));
					summary.put("cpu_us_per_delivery_at_peak", peakRow.get("cpu_us_per_delivery"));
					long half = peak / 2;
					Map<String, Object> r = runOnce(http, client, publish, workload, users, fanout, sessions.size(),
							half, seconds, payload, drainSeconds, pids, maxP99Ms);
					Map<String, Object> row = new LinkedHashMap<>(common);
					row.put("workload", workload);
					row.put("phase", "half");
					row.putAll(r);
					emit(out, row);
					LOG.printf("[%s/%s] half=%d loss=%s p99=%sms%n", system, workload, half, r.get("loss"),
							r.get("p99_ms"));
					summary.put("half_rate", half);
					summary.put("p99_ms_at_half", r.get("p99_ms"));
					summary.put("server_cpu_us_per_delivery_at_half", r.get("server_cpu_us_per_delivery"));
				}
				emit(out, summary);
				if (workload.equals(profileWorkload)) {
					profilePeak = peak;
				}
			}
			// The recording comes after every workload's ladder: a JFR recording started and stopped
			// in a node can leave it slower for what follows (in one full run the publishing node's
			// CPU per `topic` delivery, measured after it, was 1.6 times the other node's).
			if (profilePid > 0 && profilePeak > 0) {
				int fanout = fanout(profileWorkload, sessions.size(), perUser);
				LOG.printf("[%s/%s] profiling pid %d at the peak, %d deliveries/s -> %s%n", system, profileWorkload,
						profilePid, profilePeak, profileOut);
				LOG.print(jcmd(profilePid, "JFR.start name=peak settings=default filename=" + profileOut));
				// twice the step length: more samples
				Map<String, Object> r = runOnce(http, client, publish, profileWorkload, users, fanout, sessions.size(),
						profilePeak, 2 * seconds, payload, drainSeconds, pids, maxP99Ms);
				LOG.print(jcmd(profilePid, "JFR.stop name=peak"));
				Map<String, Object> row = new LinkedHashMap<>(common);
				row.put("workload", profileWorkload);
				row.put("phase", "profile-step");
				row.put("jfr", profileOut.toString());
				row.putAll(r);
				emit(out, row);
			}
			for (Session s : sessions) {
				if (s.channel != null) {
					s.channel.close();
				}
			}
		}
		return 0;
	}

	/** @return deliveries per published message: every session for {@code topic}, the user's sessions for {@code user} */
	private static int fanout(String workload, int sessions, int sessionsPerUser) {
		return workload.equals("topic") ? sessions : sessionsPerUser;
	}

	private Map<String, Object> runOnce(HttpClient http, WsClient client, String publish, String workload, int users,
			int fanout, int sessionCount, long rate, int seconds, int payload, int drainSeconds,
			Map<String, Long> pids, double maxP99Ms) throws Exception {
		// let a backlog from an overloaded previous step drain first (no delivery for 2 s, at most 60 s)
		long quiesceStart = System.nanoTime();
		while (System.nanoTime() - FrameHandler.lastDeliveryNanos < 2_000_000_000L
				&& System.nanoTime() - quiesceStart < 60_000_000_000L) {
			Thread.sleep(100);
		}
		long quiesceMs = (System.nanoTime() - quiesceStart) / 1_000_000;
		double publishRate = (double) rate / fanout;
		long runId = System.currentTimeMillis() % 1_000_000_000L;
		RunState run = new RunState(runId, sessionCount);
		long positioned0 = FrameHandler.positioned.sum();
		Map<String, Long> cpu0 = ProcCpu.snapshot(pids);
		this.current = run;
		String body = String.format(java.util.Locale.ROOT,
				"{\"mode\":\"%s\",\"users\":%d,\"userPrefix\":\"u\",\"rate\":%.4f,\"seconds\":%d,\"payloadBytes\":%d,\"runId\":%d}",
				workload, users, publishRate, seconds, payload, runId);
		HttpResponse<String> resp = http.send(
				HttpRequest.newBuilder(URI.create(publish + "/api/loadtest/runs"))
					.timeout(Duration.ofSeconds(seconds * 3L + 60))
					.header("Content-Type", "application/json")
					// stomp-relay asks for an admin token (the peers ignore it)
					.header("Authorization", "Bearer " + Jwt.hs256(this.secret, "bench-publisher", List.of("admin"), 600))
					.POST(HttpRequest.BodyPublishers.ofString(body))
					.build(),
				HttpResponse.BodyHandlers.ofString());
		if (resp.statusCode() / 100 != 2) {
			throw new IOException("publisher answered " + resp.statusCode() + ": " + resp.body());
		}
		long sent = FrameHandler.numberAfter(resp.body(), "\"sent\"", 0);
		long planned = FrameHandler.numberAfter(resp.body(), "\"planned\"", 0);
		long expected = sent * fanout;
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(drainSeconds);
		while (run.total.sum() < expected && System.nanoTime() < deadline) {
			Thread.sleep(20);
		}
		Map<String, Long> cpu1 = ProcCpu.snapshot(pids);
		this.current = null;
		this.lastRun = run;
		for (EventExecutor e : client.group()) {
			e.submit(() -> {
			}).syncUninterruptibly();
		}
		long received = Arrays.stream(run.received).sum();
		long dups = Arrays.stream(run.duplicates).sum();
		long ooo = Arrays.stream(run.outOfOrder).sum();
		Histogram h = run.merged();
		long last = run.lastRecvNanos == 0 ? System.nanoTime() : run.lastRecvNanos;
		double elapsed = Math.max(seconds, (last - run.startNanos) / 1e9);

		Map<String, Object> r = new LinkedHashMap<>();
		r.put("offered_rate", rate);
		r.put("publish_rate", round(publishRate));
		r.put("fanout", fanout);
		r.put("planned", planned);
		r.put("sent", sent);
		r.put("expected", expected);
		r.put("received", received);
		r.put("loss", expected - received);
		r.put("duplicates", dups);
		r.put("out_of_order", ooo);
		r.put("stale", run.stale.sum());
		r.put("delivered_per_s", round(received / elapsed));
		r.put("p50_ms", ms(h.getValueAtPercentile(50)));
		r.put("p99_ms", ms(h.getValueAtPercentile(99)));
		r.put("p999_ms", ms(h.getValueAtPercentile(99.9)));
		r.put("max_ms", ms(h.getMaxValue()));
		Map<String, Object> p99ByNode = new LinkedHashMap<>();
		run.mergedByNode().forEach((node, nodeHistogram) -> p99ByNode.put(Integer.toString(node),
				ms(nodeHistogram.getValueAtPercentile(99))));
		if (p99ByNode.size() > 1) { // the latency of the deliveries of each node's sessions (0 = the publishing node)
			r.put("p99_ms_by_node", p99ByNode);
		}
		double p99 = h.getValueAtPercentile(99) / 1000.0;
		boolean ok = expected > 0 && received == expected && dups == 0 && sent >= planned && p99 < maxP99Ms;
		r.put("ok", ok);
		r.put("quiesce_ms", quiesceMs);
		if (FrameHandler.trackPositions) { // history runs: deliveries that carried a stream-position header
			r.put("with_stream_position", FrameHandler.positioned.sum() - positioned0);
		}
		Map<String, Object> cpuMs = new LinkedHashMap<>();
		Map<String, Object> perDelivery = new LinkedHashMap<>();
		long serverCpu = 0;
		for (String name : pids.keySet()) {
			long d = cpu1.get(name) - cpu0.get(name);
			cpuMs.put(name, d);
			perDelivery.put(name, received == 0 ? null : round(d * 1000.0 / received));
			if (!name.equals("generator")) {
				serverCpu += d;
			}
		}
		r.put("cpu_ms", cpuMs);
		r.put("cpu_us_per_delivery", perDelivery);
		r.put("server_cpu_us_per_delivery", received == 0 ? null : round(serverCpu * 1000.0 / received));
		r.put("ts", java.time.Instant.now().toString());
		return r;
	}

	// ------------------------------------------------------------------ scale

	private static final String[] COUNTERS = { "stomp_relay_published_total", "stomp_relay_inbound_total",
			"stomp_relay_inbound_bytes_total", "stomp_relay_echoes_total", "stomp_relay_received_total",
			"stomp_relay_local_deliveries_total", "stomp_relay_dropped_total" };

	private int scale(Map<String, String> a) throws Exception {
		String system = a.getOrDefault("system", "stomp-relay-scale");
		String[] ws = req(a, "ws").split(",");
		int n = ws.length;
		String[] base = new String[n];
		for (int i = 0; i < n; i++) {
			base[i] = ws[i].replaceFirst("^ws", "http").replaceFirst("/ws$", "");
		}
		String secret = req(a, "secret");
		this.secret = secret;
		int users = Integer.parseInt(a.getOrDefault("users", "200"));
		String[] workloads = a.getOrDefault("workloads", "user,topic").split(",");
		double userRate = Double.parseDouble(a.getOrDefault("user-rate", "2000"));
		double topicRate = Double.parseDouble(a.getOrDefault("topic-rate", "20"));
		int seconds = Integer.parseInt(a.getOrDefault("seconds", "8"));
		int payload = Integer.parseInt(a.getOrDefault("payload", "100"));
		int drainSeconds = Integer.parseInt(a.getOrDefault("drain", "5"));
		int warmSeconds = Integer.parseInt(a.getOrDefault("warmup-seconds", "2"));
		int publisher = Integer.parseInt(a.getOrDefault("publisher", "0"));
		int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
		String redis = a.get("redis");
		Path out = Path.of(a.getOrDefault("out", "results/results.jsonl"));
		Map<String, Long> pids = pids(a.getOrDefault("pids", ""));
		pids.put("generator", ProcessHandle.current().pid());

		Map<String, Object> common = new LinkedHashMap<>();
		common.put("system", system);
		common.put("nodes", n);
		common.put("users", users);
		common.put("sessions", users);
		common.put("payload_bytes", payload);
		common.put("seconds", seconds);
		common.put("publisher_node", publisher);

		HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(5)).build();
		List<Session> sessions = new ArrayList<>();
		int[] nodeOf = new int[users];
		int[] sessionsOn = new int[n];
		try (WsClient client = new WsClient(threads, Protocol.STOMP, false, () -> this.current)) {
			for (int u = 0; u < users; u++) {
				String user = "u" + u;
				nodeOf[u] = u % n;
				sessionsOn[u % n]++;
				sessions.add(new Session(u, user, Jwt.hs256(secret, user, List.of("USER"), 3600), u % n, ws[u % n]));
			}
			long t0 = System.nanoTime();
			int failedSessions = openAll(client, sessions, null, 64, true, 120);
			LOG.printf("[%s N=%d] %d sessions ready (%d failed) in %d ms%n", system, n, sessions.size() - failedSessions,
					failedSessions, (System.nanoTime() - t0) / 1_000_000);
			if (failedSessions > 0) {
				Map<String, Object> err = new LinkedHashMap<>(common);
				err.put("phase", "error");
				err.put("error", failedSessions + " of " + sessions.size() + " sessions failed to connect/authenticate");
				emit(out, err);
				return 2;
			}
			// warm-up, not counted: JITs, and every node's delivery path once (topic at 20 messages/s needs none)
			for (String workload : a.getOrDefault("warmup-workloads", "user").split(",")) {
				boolean topic = workload.equals("topic");
				int fanout = topic ? users : 1;
				long rate = Math.round((topic ? topicRate : userRate) * fanout);
				Map<String, Object> r = runOnce(http, client, base[publisher], workload, users, fanout, users, rate,
						warmSeconds, payload, drainSeconds, pids, Double.MAX_VALUE);
				LOG.printf("[%s N=%d/%s] warm-up: loss=%s p99=%sms%n", system, n, workload, r.get("loss"), r.get("p99_ms"));
			}
			for (String workload : workloads) {
				boolean topic = workload.equals("topic");
				int fanout = topic ? users : 1;
				double messageRate = topic ? topicRate : userRate;
				quiet(base, http);
				List<Map<String, Double>> before = scrapeAll(http, base);
				Map<String, Long> redisBefore = NodeCounters.redisStats(redis);
				Map<String, Object> r = runOnce(http, client, base[publisher], workload, users, fanout, users,
						Math.round(messageRate * fanout), seconds, payload, drainSeconds, pids, Double.MAX_VALUE);
				List<Map<String, Double>> after = settle(http, base);
				Map<String, Long> redisAfter = NodeCounters.redisStats(redis);
				RunState run = this.lastRun;

				double[][] delta = new double[n][COUNTERS.length];
				double publishedCluster = 0;
				double inboundCluster = 0;
				for (int i = 0; i < n; i++) {
					for (int c = 0; c < COUNTERS.length; c++) {
						delta[i][c] = NodeCounters.sum(after.get(i), COUNTERS[c], null)
								- NodeCounters.sum(before.get(i), COUNTERS[c], null);
					}
					publishedCluster += delta[i][0];
					inboundCluster += delta[i][1];
				}
				long sent = (long) r.get("sent");
				@SuppressWarnings("unchecked")
				Map<String, Object> cpu = (Map<String, Object>) r.get("cpu_ms");

				Map<String, Object> step = new LinkedHashMap<>(common);
				step.put("workload", workload);
				step.put("phase", "scale-step");
				step.put("message_rate", messageRate);
				for (String k : List.of("planned", "sent", "fanout", "expected", "received", "loss", "duplicates",
						"out_of_order", "stale", "delivered_per_s", "p50_ms", "p99_ms", "p999_ms", "max_ms", "cpu_ms")) {
					step.put(k, r.get(k));
				}
				step.put("ok", (long) r.get("loss") == 0 && (long) r.get("duplicates") == 0
						&& (long) r.get("sent") >= (long) r.get("planned"));
				if (topic) { // every session must have every message
					step.put("sessions_short", Arrays.stream(run.received).filter(x -> x != sent).count());
				}
				step.put("published_cluster", (long) publishedCluster);
				step.put("inbound_cluster", (long) inboundCluster);
				if (!redisBefore.isEmpty() && !redisAfter.isEmpty()) {
					for (String k : List.of("total_commands_processed", "total_net_input_bytes", "total_net_output_bytes")) {
						if (redisBefore.containsKey(k) && redisAfter.containsKey(k)) {
							step.put("redis_" + k, redisAfter.get(k) - redisBefore.get(k));
						}
					}
				}
				step.put("ts", java.time.Instant.now().toString());
				emit(out, step);

				for (int i = 0; i < n; i++) {
					long clientReceived = 0;
					long dups = 0;
					for (Session s : sessions) {
						if (nodeOf[s.index] == i) {
							clientReceived += run.received[s.index];
							dups += run.duplicates[s.index];
						}
					}
					Map<String, Object> row = new LinkedHashMap<>(common);
					row.put("workload", workload);
					row.put("phase", "scale");
					row.put("node", i);
					row.put("node_id", NodeCounters.nodeId(after.get(i)));
					row.put("is_publisher", i == publisher);
					row.put("local_sessions", sessionsOn[i]);
					row.put("server_sessions", (long) NodeCounters.sum(after.get(i), "stomp_relay_sessions", "kind=\"authenticated\""));
					row.put("share", round((double) sessionsOn[i] / users));
					row.put("message_rate", messageRate);
					row.put("sent", sent);
					row.put("published_cluster", (long) publishedCluster);
					row.put("published", (long) delta[i][0]);
					row.put("inbound", (long) delta[i][1]);
					row.put("inbound_bytes", (long) delta[i][2]);
					row.put("echoes", (long) delta[i][3]);
					row.put("received_from_other_nodes", (long) delta[i][4]);
					row.put("local_deliveries", (long) delta[i][5]);
					row.put("dropped", (long) delta[i][6]);
					row.put("inbound_per_published", publishedCluster == 0 ? null : round(delta[i][1] / publishedCluster));
					row.put("expected_share", topic ? 1.0 : round((double) sessionsOn[i] / users));
					row.put("redis_subscriptions", (long) NodeCounters.sum(after.get(i), "stomp_relay_redis_subscriptions", null));
					row.put("client_received", clientReceived);
					row.put("client_expected", topic ? sent * sessionsOn[i] : null);
					row.put("client_duplicates", dups);
					row.put("cpu_ms", cpu.get("n" + i));
					row.put("step_loss", r.get("loss"));
					row.put("ts", java.time.Instant.now().toString());
					emit(out, row);
					LOG.printf("[%s N=%d/%s] node %d: sessions=%d share=%.3f published=%d inbound=%d (%.3f of %d) "
							+ "echoes=%d relayed-in=%d local=%d client=%d dropped=%d%n", system, n, workload, i,
							sessionsOn[i], (double) sessionsOn[i] / users, (long) delta[i][0], (long) delta[i][1],
							publishedCluster == 0 ? 0 : delta[i][1] / publishedCluster, (long) publishedCluster,
							(long) delta[i][3], (long) delta[i][4], (long) delta[i][5], clientReceived,
							(long) delta[i][6]);
				}
				LOG.printf("[%s N=%d/%s] sent=%d received=%s loss=%s dup=%s p99=%sms%n", system, n, workload, sent,
						r.get("received"), r.get("loss"), r.get("duplicates"), r.get("p99_ms"));
			}
			for (Session s : sessions) {
				if (s.channel != null) {
					s.channel.close();
				}
			}
		}
		return 0;
	}

	private static List<Map<String, Double>> scrapeAll(HttpClient http, String[] base) throws Exception {
		List<Map<String, Double>> all = new ArrayList<>();
		for (String b : base) {
			all.add(NodeCounters.scrape(http, b));
		}
		return all;
	}

	/** Scrapes every node until the relay counters stop moving (250 ms apart, at most 5 s). */
	private static List<Map<String, Double>> settle(HttpClient http, String[] base) throws Exception {
		List<Map<String, Double>> last = scrapeAll(http, base);
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
		while (System.nanoTime() < deadline) {
			Thread.sleep(250);
			List<Map<String, Double>> now = scrapeAll(http, base);
			if (signature(now) == signature(last)) {
				return now;
			}
			last = now;
		}
		return last;
	}

	private static double signature(List<Map<String, Double>> scrapes) {
		double s = 0;
		for (Map<String, Double> m : scrapes) {
			for (String c : COUNTERS) {
				s += NodeCounters.sum(m, c, null);
			}
		}
		return s;
	}

	/** No delivery for 1 s (at most 30 s), then the node counters settled. */
	private static void quiet(String[] base, HttpClient http) throws Exception {
		long start = System.nanoTime();
		while (System.nanoTime() - FrameHandler.lastDeliveryNanos < 1_000_000_000L
				&& System.nanoTime() - start < 30_000_000_000L) {
			Thread.sleep(100);
		}
		settle(http, base);
	}

	/** Connects all sessions with at most {@code inFlight} handshakes pending; returns the failure count. */
	static int openAll(WsClient client, List<Session> sessions, String[] sourceIps, int inFlight,
			boolean subscribe, int timeoutSeconds) throws InterruptedException {
		Semaphore permits = new Semaphore(inFlight);
		long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
		for (Session s : sessions) {
			if (!permits.tryAcquire(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
				break;
			}
			String src = (sourceIps == null) ? null : sourceIps[s.index % sourceIps.length];
			client.connect(s, src, subscribe);
			s.ready.whenComplete((v, ex) -> permits.release());
		}
		int failed = 0;
		String firstError = null;
		for (Session s : sessions) {
			try {
				s.ready.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
			}
			catch (Exception ex) {
				failed++;
				if (firstError == null) {
					firstError = String.valueOf(ex.getCause() != null ? ex.getCause() : ex);
				}
			}
		}
		if (firstError != null) {
			LOG.println("first session error: " + firstError);
		}
		return failed;
	}

	// ------------------------------------------------------------------ idle

	private int idle(Map<String, String> a) throws Exception {
		String system = a.getOrDefault("system", "stomp-relay");
		String url = req(a, "ws");
		String secret = req(a, "secret");
		long serverPid = Long.parseLong(req(a, "server-pid"));
		int[] stages = Arrays.stream(a.getOrDefault("stages", "10000,19000").split(","))
			.mapToInt(Integer::parseInt)
			.toArray();
		String[] sourceIps = a.getOrDefault("source-ips", "127.0.0.1").split(",");
		Path out = Path.of(a.getOrDefault("out", "results/results.jsonl"));
		int threads = Integer.parseInt(a.getOrDefault("threads", "2"));
		String jvmFlags = a.getOrDefault("jvm-flags", "");

		Memory base = memory(serverPid);
		saveHistogram(out, system, 0, base);
		LOG.printf("[idle] baseline heap=%.1f MB live=%.1f MB rss=%.1f MB%n", base.heapUsedMb(), base.liveMb(),
				base.rssMb());
		List<Session> sessions = new ArrayList<>();
		try (WsClient client = new WsClient(threads, Protocol.STOMP, false, () -> null)) {
			for (int target : stages) {
				List<Session> batch = new ArrayList<>();
				while (sessions.size() < target) {
					String user = "idle" + sessions.size();
					Session s = new Session(sessions.size(), user, Jwt.hs256(secret, user, List.of("USER"), 7200), 0, url);
					sessions.add(s);
					batch.add(s);
				}
				long t0 = System.nanoTime();
				long cpu0 = ProcCpu.cpuMillis(serverPid);
				int failed = openAll(client, batch, sourceIps, 200, true, 300);
				// the node's CPU for the handshakes, CONNECTs and SUBSCRIBEs of this stage's sessions
				long connectCpuMs = ProcCpu.cpuMillis(serverPid) - cpu0;
				long openMs = (System.nanoTime() - t0) / 1_000_000;
				Thread.sleep(5000);
				Memory m = memory(serverPid);
				saveHistogram(out, system, target, m);
				int open = (int) sessions.stream().filter(s -> s.ready.isDone() && !s.ready.isCompletedExceptionally()
						&& s.channel != null && s.channel.isActive()).count();
				Map<String, Object> row = new LinkedHashMap<>();
				row.put("system", system);
				row.put("phase", "memory");
				row.put("target_connections", target);
				row.put("open_connections", open);
				row.put("failed", failed);
				row.put("open_ms", openMs);
				row.put("connect_cpu_ms", connectCpuMs);
				row.put("connect_cpu_us_per_connection", batch.isEmpty() ? null : round(connectCpuMs * 1000.0 / batch.size()));
				row.put("baseline_heap_mb", round(base.heapUsedMb()));
				row.put("baseline_rss_mb", round(base.rssMb()));
				row.put("baseline_heap_live_mb", round(base.liveMb()));
				row.put("heap_used_after_gc_mb", round(m.heapUsedMb()));
				row.put("heap_live_mb", round(m.liveMb()));
				row.put("rss_mb", round(m.rssMb()));
				row.put("heap_kb_per_connection",
						open == 0 ? null : round((m.liveMb() - base.liveMb()) * 1024 / open));
				row.put("heap_used_kb_per_connection",
						open == 0 ? null : round((m.heapUsedMb() - base.heapUsedMb()) * 1024 / open));
				row.put("rss_kb_per_connection", open == 0 ? null : round((m.rssMb() - base.rssMb()) * 1024 / open));
				row.put("jvm_flags", jvmFlags);
				row.put("ts", java.time.Instant.now().toString());
				emit(out, row);
				LOG.printf("[idle] %d open (%d failed): heap=%.1f MB live=%.1f MB rss=%.1f MB; opening them took %d ms, "
						+ "%.0f µs of node CPU each%n", open, failed, m.heapUsedMb(), m.liveMb(), m.rssMb(), openMs,
						batch.isEmpty() ? 0.0 : connectCpuMs * 1000.0 / batch.size());
			}
			for (Session s : sessions) {
				if (s.channel != null) {
					s.channel.close();
				}
			}
		}
		return 0;
	}

	/**
	 * Saves the top of a stage's class histogram next to the results, to see what the per-connection
	 * heap is made of (stage 0: the node before any connection).
	 */
	private static void saveHistogram(Path out, String system, int connections, Memory memory) throws IOException {
		Path file = out.toAbsolutePath().getParent()
			.resolve("histogram-" + system.replaceAll("[^A-Za-z0-9]+", "_") + "-" + connections + ".txt");
		Files.writeString(file, memory.histogram().lines().limit(400).collect(java.util.stream.Collectors.joining("\n")));
	}

	private static final Pattern HEAP_USED = Pattern.compile("used (\\d+)K");

	private static final Pattern HISTOGRAM_TOTAL = Pattern.compile("(?m)^Total\\s+\\d+\\s+(\\d+)");

	/**
	 * A JVM's memory, via jcmd and /proc.
	 *
	 * @param heapUsedMb G1's heap used a second after a full GC
	 * @param rssMb the process's resident set
	 * @param liveMb the bytes of the reachable objects (the class histogram's total)
	 * @param histogram the class histogram
	 */
	record Memory(double heapUsedMb, double rssMb, double liveMb, String histogram) {
	}

	/**
	 * "Used" is G1's figure a second after the GC: it counts every eden region a thread has started
	 * allocating in since as whole (regions of several MB), so it moves by up to ~12 MB from one
	 * reading to the next. The live figure is the class histogram's total, taken with its own full
	 * GC: the bytes of the objects that are reachable, which is what a connection costs.
	 */
	private static Memory memory(long pid) throws Exception {
		jcmd(pid, "GC.run");
		Thread.sleep(1000);
		String info = jcmd(pid, "GC.heap_info");
		Matcher m = HEAP_USED.matcher(info);
		double heap = m.find() ? Long.parseLong(m.group(1)) / 1024.0 : -1;
		String histogram = jcmd(pid, "GC.class_histogram");
		Matcher total = HISTOGRAM_TOTAL.matcher(histogram);
		double live = total.find() ? Long.parseLong(total.group(1)) / (1024.0 * 1024.0) : -1;
		double rss = -1;
		for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
			if (line.startsWith("VmRSS:")) {
				rss = Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
			}
		}
		return new Memory(heap, rss, live, histogram);
	}

	private static String jcmd(long pid, String command) throws Exception {
		Process p = new ProcessBuilder("jcmd", String.valueOf(pid), command).redirectErrorStream(true).start();
		String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
		p.waitFor(60, TimeUnit.SECONDS);
		return text;
	}

	// ------------------------------------------------------------------ helpers

	private static Map<String, String> parse(String[] args) {
		Map<String, String> m = new HashMap<>();
		for (int i = 0; i < args.length; i++) {
			if (!args[i].startsWith("--")) {
				throw new IllegalArgumentException("unexpected " + args[i]);
			}
			String key = args[i].substring(2);
			if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
				m.put(key, args[++i]);
			}
			else {
				m.put(key, "true");
			}
		}
		return m;
	}

	static String req(Map<String, String> a, String key) {
		String v = a.get(key);
		if (v == null) {
			throw new IllegalArgumentException("missing --" + key);
		}
		return v;
	}

	static Map<String, Long> pids(String spec) {
		Map<String, Long> m = new LinkedHashMap<>();
		for (String part : spec.split(",")) {
			if (part.isBlank()) {
				continue;
			}
			String[] kv = part.split("=");
			m.put(kv[0], Long.parseLong(kv[1]));
		}
		return m;
	}

	static double ms(long micros) {
		return round(micros / 1000.0);
	}

	static double round(double v) {
		return Math.round(v * 1000.0) / 1000.0;
	}

	static synchronized void emit(Path out, Map<String, Object> row) throws IOException {
		if (out.getParent() != null) {
			Files.createDirectories(out.getParent());
		}
		String line = toJson(row) + "\n";
		Files.writeString(out, line, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
		System.out.print(line);
	}

	@SuppressWarnings("unchecked")
	static String toJson(Object v) {
		if (v == null) {
			return "null";
		}
		if (v instanceof Map<?, ?> map) {
			StringBuilder sb = new StringBuilder("{");
			for (Map.Entry<?, ?> e : map.entrySet()) {
				if (sb.length() > 1) {
					sb.append(',');
				}
				sb.append(toJson(String.valueOf(e.getKey()))).append(':').append(toJson(e.getValue()));
			}
			return sb.append('}').toString();
		}
		if (v instanceof Number || v instanceof Boolean) {
			return v.toString();
		}
		String s = v.toString().replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
		return "\"" + s + "\"";
	}

}
