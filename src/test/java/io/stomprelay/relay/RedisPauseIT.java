package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.TestTokens;
import io.stomprelay.system.StompRelayProperties;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Redis stops answering for five seconds ({@code CLIENT PAUSE 5000}, all commands) while 50 new
 * sessions connect to both nodes. Sessions that were already there must not notice: their
 * SEND {@code /app/events} to first reply round trips stay fast (they need no Redis round trip),
 * none is disconnected, and the new sessions get CONNECTED within the subscribe timeout plus the
 * pause.
 */
class RedisPauseIT {

	private static final Duration PAUSE = Duration.ofSeconds(5);

	/**
	 * A round trip that waited for Redis would take up to the whole pause; a tenth of it tells that
	 * apart from the scheduling noise of a shared machine (a CI run once saw one of 875 at 110 ms).
	 */
	private static final Duration MAX_ROUND_TRIP = PAUSE.dividedBy(10);

	private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(15);

	private static final Predicate<String> FIRST_EVENT = frame -> frame.startsWith("MESSAGE\n")
			&& "/user/queue/events".equals(RawStompSocket.header(frame, "destination"))
			&& "1".equals(RawStompSocket.body(frame));

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private final List<AutoCloseable> open = new ArrayList<>();

	@BeforeAll
	static void startCluster() {
		cluster = RelayCluster.start("pause");
		nodeA = cluster.nodeA();
		nodeB = cluster.nodeB();
	}

	@AfterAll
	static void stopCluster() {
		cluster.close();
	}

	@AfterEach
	void closeAll() throws Exception {
		for (AutoCloseable closeable : this.open) {
			closeable.close();
		}
	}

	@Test
	void existingSessionsKeepFastRoundTripsAndNewSessionsConnectWhileRedisIsPaused() throws Exception {
		Duration subscribeTimeout = nodeA.bean(StompRelayProperties.class).redis().subscribeTimeout();
		List<Prober> probers = new ArrayList<>();
		for (int i = 0; i < 4; i++) {
			RawStompSocket session = raw(nodeA, user("steady" + i));
			session.sendFrame("SUBSCRIBE", "", "id:events", "destination:/user/queue/events", "receipt:ready");
			session.awaitFrame("RECEIPT", Duration.ofSeconds(5));
			probers.add(new Prober(session));
		}
		ScheduledExecutorService probing = Executors.newScheduledThreadPool(probers.size());
		ExecutorService arrivals = Executors.newFixedThreadPool(8);
		RedisClient admin = RedisClient.create(cluster.redis().url());
		try {
			for (Prober prober : probers) {
				probing.scheduleWithFixedDelay(prober::probe, 0, 20, TimeUnit.MILLISECONDS);
			}
			await().atMost(Duration.ofSeconds(10)).until(() -> probers.stream().allMatch(p -> p.roundTrips.size() >= 50));
			long before = probers.stream().mapToLong(Prober::max).max().orElseThrow();
			System.out.println("round trips before the pause: max " + TimeUnit.NANOSECONDS.toMillis(before) + " ms");

			long pauseStart = System.nanoTime();
			try (StatefulRedisConnection<String, String> pause = admin.connect()) {
				assertThat(pause.sync().clientPause(PAUSE.toMillis())).isEqualTo("OK");
			}
			List<CompletableFuture<Long>> newcomers = new ArrayList<>();
			for (int i = 0; i < 50; i++) {
				RelayNode node = (i % 2 == 0) ? nodeA : nodeB;
				String token = TestTokens.valid(user("newcomer" + i), "user");
				newcomers.add(CompletableFuture.supplyAsync(() -> arrive(node, token, arrivals), arrivals).thenCompose(f -> f));
			}
			try (StatefulRedisConnection<String, String> ping = admin.connect()) {
				ping.setTimeout(PAUSE.plusSeconds(10));
				assertThat(ping.sync().ping()).isEqualTo("PONG");
			}
			long pauseEnd = System.nanoTime();
			System.out.println("Redis answered again " + TimeUnit.NANOSECONDS.toMillis(pauseEnd - pauseStart)
					+ " ms after CLIENT PAUSE");

			Duration connectBound = subscribeTimeout.plus(PAUSE);
			List<Long> connectMillis = new ArrayList<>();
			for (CompletableFuture<Long> newcomer : newcomers) {
				connectMillis.add(newcomer.get(connectBound.plusSeconds(10).toMillis(), TimeUnit.MILLISECONDS));
			}
			int[] counts = probers.stream().mapToInt(p -> p.roundTrips.size()).toArray();
			await().atMost(Duration.ofSeconds(30)).until(() -> {
				for (int i = 0; i < probers.size(); i++) {
					if (probers.get(i).roundTrips.size() < counts[i] + 10) {
						return false;
					}
				}
				return true;
			});
			probing.shutdown();
			assertThat(probing.awaitTermination(PROBE_TIMEOUT.toSeconds() + 5, TimeUnit.SECONDS)).isTrue();

			List<Long> during = new ArrayList<>();
			for (Prober prober : probers) {
				for (long[] roundTrip : prober.roundTrips) {
					if (roundTrip[0] >= pauseStart) {
						during.add(TimeUnit.NANOSECONDS.toMillis(roundTrip[1]));
					}
				}
			}
			long maxDuring = during.stream().mapToLong(Long::longValue).max().orElse(-1);
			long slow = during.stream().filter(ms -> ms >= MAX_ROUND_TRIP.toMillis()).count();
			long maxConnect = connectMillis.stream().mapToLong(Long::longValue).max().orElseThrow();
			System.out.println("round trips of existing sessions from the pause on: " + during.size() + ", max "
					+ maxDuring + " ms, " + slow + " of them >= " + MAX_ROUND_TRIP.toMillis() + " ms");
			System.out.println("50 new sessions: CONNECTED after at most " + maxConnect + " ms (bound "
					+ connectBound.toMillis() + " ms)");

			assertThat(during).as("round trips measured during and after the pause").hasSizeGreaterThan(40);
			assertThat(maxDuring).as("slowest round trip (ms) of an existing session from the pause on")
				.isLessThan(MAX_ROUND_TRIP.toMillis());
			assertThat(connectMillis).as("CONNECT to CONNECTED of each new session (ms)")
				.allSatisfy(ms -> assertThat(ms).isLessThanOrEqualTo(connectBound.toMillis()));
			for (Prober prober : probers) {
				assertThat(prober.session.firstFrame("ERROR")).isNull();
				assertThat(prober.session.isClosed()).isFalse();
				assertThat(prober.timeouts.get()).as("probes with no reply within " + PROBE_TIMEOUT).isZero();
			}
		}
		finally {
			probing.shutdownNow();
			arrivals.shutdownNow();
			admin.shutdown();
		}
	}

	/**
	 * An impatient newcomer: CONNECT, and as soon as CONNECTED is there, SUBSCRIBE and SEND.
	 * @return completes with the CONNECT to CONNECTED time in ms, or fails on ERROR or close
	 */
	private CompletableFuture<Long> arrive(RelayNode node, String token, ExecutorService executor) {
		long start = System.nanoTime();
		RawStompSocket socket = RawStompSocket.connect(node.wsUrl(), token);
		synchronized (this.open) {
			this.open.add(socket);
		}
		CompletableFuture<String> answer = socket.whenFrame(f -> f.startsWith("CONNECTED\n") || f.startsWith("ERROR\n"), 1);
		return answer.thenApplyAsync(frame -> {
			long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
			if (!frame.startsWith("CONNECTED\n")) {
				throw new IllegalStateException("new session got ERROR " + RawStompSocket.header(frame, "message"));
			}
			socket.sendFrame("SUBSCRIBE", "", "id:events", "destination:/user/queue/events")
				.sendFrame("SEND", "", "destination:/app/events");
			return millis;
		}, executor);
	}

	private RawStompSocket raw(RelayNode node, String user) {
		RawStompSocket socket = RawStompSocket.connected(node.wsUrl(), TestTokens.valid(user, "user"));
		this.open.add(socket);
		return socket;
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

	/**
	 * Measures SEND /app/events to the first reply ("1") on one session, one round trip at a time;
	 * the k-th probe waits for the k-th "1", so a late reply is never taken for a later probe's.
	 */
	private static final class Prober {

		final RawStompSocket session;

		/** {start nanos, round trip nanos} */
		final ConcurrentLinkedQueue<long[]> roundTrips = new ConcurrentLinkedQueue<>();

		final AtomicInteger timeouts = new AtomicInteger();

		int sent;

		Prober(RawStompSocket session) {
			this.session = session;
		}

		void probe() {
			int k = ++this.sent;
			CompletableFuture<String> reply = this.session.whenFrame(FIRST_EVENT, k);
			long start = System.nanoTime();
			try {
				this.session.sendFrame("SEND", "", "destination:/app/events");
				reply.get(PROBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
				this.roundTrips.add(new long[] { start, System.nanoTime() - start });
			}
			catch (TimeoutException ex) {
				this.timeouts.incrementAndGet();
				this.roundTrips.add(new long[] { start, System.nanoTime() - start });
			}
			catch (Exception ex) {
				this.timeouts.incrementAndGet();
				this.roundTrips.add(new long[] { start, PROBE_TIMEOUT.toNanos() });
				if (ex instanceof InterruptedException) {
					Thread.currentThread().interrupt();
				}
			}
		}

		long max() {
			return this.roundTrips.stream().mapToLong(r -> r[1]).max().orElse(0);
		}

	}

}
