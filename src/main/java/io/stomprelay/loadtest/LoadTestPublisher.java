package io.stomprelay.loadtest;

import java.time.Instant;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.messaging.simp.SimpMessageSendingOperations;
import org.springframework.stereotype.Component;

/**
 * Open-loop publisher: message {@code i} is due at {@code start + i / rate} on the
 * {@link System#nanoTime()} clock, whatever happened to message {@code i-1}; a slow server
 * therefore shows up as latency (each payload carries its <em>scheduled</em> send time in epoch
 * microseconds), never as a quietly lower rate. Like the socket.io peer's publisher, it wakes at
 * most once a millisecond ({@link #tickWaitNanos}). One run at a time, on its own named thread.
 */
@Component
@ConditionalOnProperty(prefix = "stomp-relay.loadtest", name = "enabled", havingValue = "true")
public class LoadTestPublisher {

	/** Hard stop after the planned duration, so a saturated server can't keep a run going. */
	private static final long GRACE_NANOS = 2_000_000_000L;

	private final SimpMessageSendingOperations messaging;

	private final AtomicBoolean running = new AtomicBoolean();

	private final AtomicLong runIds = new AtomicLong();

	/**
	 * Creates the publisher.
	 * @param messaging the broker messaging template the application's own code sends with
	 */
	public LoadTestPublisher(SimpMessageSendingOperations messaging) {
		this.messaging = messaging;
	}

	/**
	 * Runs {@code request} to completion on a new thread named {@code loadtest-publisher-<runId>}
	 * and waits for it.
	 * @param request the run (validated here)
	 * @return what was sent
	 * @throws IllegalStateException if another run is in progress
	 * @throws InterruptedException if the caller is interrupted while waiting
	 */
	public LoadTestResult run(LoadTestRequest request) throws InterruptedException {
		LoadTestRequest r = request.validated(this.runIds.incrementAndGet());
		if (!this.running.compareAndSet(false, true)) {
			throw new IllegalStateException("a load-test run is already in progress");
		}
		try {
			LoadTestResult[] result = new LoadTestResult[1];
			Thread thread = new Thread(() -> result[0] = publish(r), "loadtest-publisher-" + r.runId());
			thread.setDaemon(true);
			thread.start();
			thread.join();
			return result[0];
		}
		finally {
			this.running.set(false);
		}
	}

	private LoadTestResult publish(LoadTestRequest r) {
		boolean topic = r.mode().equals("topic");
		long planned = (long) Math.floor(r.rate() * r.seconds());
		double periodNanos = 1e9 / r.rate();
		String pad = "x".repeat(Math.max(0, r.payloadBytes() - 60));
		Instant startInstant = Instant.now();
		long start = System.nanoTime();
		long startMicros = startInstant.getEpochSecond() * 1_000_000L + startInstant.getNano() / 1000;
		long cutOff = start + r.seconds() * 1_000_000_000L + GRACE_NANOS;
		long sent = 0;
		long maxLag = 0;
		ThreadLocalRandom random = ThreadLocalRandom.current();
		while (sent < planned) {
			long now = System.nanoTime();
			if (now - cutOff > 0) {
				break;
			}
			long due = Math.min(planned, (long) ((now - start) / periodNanos) + 1);
			while (sent < due) {
				long scheduledOffset = (long) (sent * periodNanos);
				String payload = "{\"run\":" + r.runId() + ",\"seq\":" + sent + ",\"sent\":"
						+ (startMicros + scheduledOffset / 1000) + ",\"pad\":\"" + pad + "\"}";
				if (topic) {
					this.messaging.convertAndSend("/topic/bench", payload);
				}
				else {
					String user = r.userPrefix() + random.nextInt(r.users());
					this.messaging.convertAndSendToUser(user, "/queue/bench", payload);
				}
				maxLag = Math.max(maxLag, (System.nanoTime() - start - scheduledOffset) / 1000);
				sent++;
			}
			if (sent < planned) {
				LockSupport.parkNanos(tickWaitNanos(start + (long) (sent * periodNanos) - System.nanoTime()));
			}
		}
		return new LoadTestResult(r.runId(), r.mode(), planned, sent, (System.nanoTime() - start) / 1_000_000,
				maxLag);
	}

	/**
	 * How long to wait for the next message, in whole milliseconds and at least one, as Node's
	 * {@code setTimeout(tick, Math.floor(waitMs))} waits in the socket.io peer's publisher: both
	 * publishers then wake at most once a millisecond and send everything due, so the systems are
	 * offered the same pattern (at 12,500 messages/s about twelve messages per wake-up rather than
	 * one). The latency a message reports still starts at its own scheduled time.
	 * @param untilNextNanos time until the next message is due (may be negative)
	 * @return nanoseconds to park
	 */
	static long tickWaitNanos(long untilNextNanos) {
		return Math.max(1L, untilNextNanos / 1_000_000L) * 1_000_000L;
	}

}
