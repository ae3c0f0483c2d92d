package io.stomprelay.support;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.awaitility.Awaitility.await;

/**
 * The loss-accounting workload of the outage tests (the benchmark's {@code user} workload): users
 * with one raw STOMP session each on one node, subscribed to one user queue; numbered messages sent
 * to them round robin; and what arrived: distinct, duplicated, in order or not. Also reads the
 * relay meters those tests compare with ({@link #dropped}).
 */
public final class RoundRobinUsers implements AutoCloseable {

	private final String queue;

	private final List<String> users = new ArrayList<>();

	private final List<RawStompSocket> sessions = new ArrayList<>();

	private RoundRobinUsers(String queue) {
		this.queue = queue;
	}

	/**
	 * Connects {@code count} users ({@code <name>-<run>-<i>}) to {@code node} and subscribes each to
	 * {@code queue} (a {@code /user/queue/...} destination); returns once every SUBSCRIBE is receipted.
	 */
	public static RoundRobinUsers connect(RelayNode node, int count, String name, String queue) {
		RoundRobinUsers users = new RoundRobinUsers(queue);
		String run = UUID.randomUUID().toString().substring(0, 8);
		for (int i = 0; i < count; i++) {
			String user = name + "-" + run + "-" + i;
			RawStompSocket session = RawStompSocket.connected(node.wsUrl(), TestTokens.valid(user, "user"));
			users.sessions.add(session);
			users.users.add(user);
			session.sendFrame("SUBSCRIBE", "", "id:" + name, "destination:" + queue, "receipt:ready");
		}
		users.sessions.forEach(session -> session.awaitFrame("RECEIPT", Duration.ofSeconds(10)));
		return users;
	}

	public List<String> names() {
		return this.users;
	}

	public List<RawStompSocket> sessions() {
		return this.sessions;
	}

	/**
	 * Sends {@code perTick} messages every {@code tickMillis} on {@code publisher}, round robin over
	 * the users, bodies {@code <prefix><seq>}, counting them in {@code sent}.
	 */
	public ScheduledFuture<?> publishRoundRobin(ScheduledExecutorService publisher, SimpMessagingTemplate template,
			String prefix, AtomicLong sent, int perTick, long tickMillis) {
		String destination = this.queue.substring("/user".length());
		return publisher.scheduleAtFixedRate(() -> {
			for (int i = 0; i < perTick; i++) {
				long seq = sent.get();
				template.convertAndSendToUser(this.users.get((int) (seq % this.users.size())), destination, prefix + seq);
				sent.incrementAndGet();
			}
		}, 0, tickMillis, TimeUnit.MILLISECONDS);
	}

	/** @return what arrived of the messages whose body starts with {@code prefix} */
	public Outcome outcome(String prefix) {
		Set<Long> distinct = new HashSet<>();
		long total = 0;
		int outOfOrder = 0;
		for (RawStompSocket session : this.sessions) {
			long last = -1;
			boolean ordered = true;
			for (String body : session.messages(this.queue)) {
				if (!body.startsWith(prefix)) {
					continue;
				}
				long seq = Long.parseLong(body.substring(prefix.length()));
				total++;
				distinct.add(seq);
				ordered &= seq > last;
				last = seq;
			}
			if (!ordered) {
				outOfOrder++;
			}
		}
		return new Outcome(distinct.size(), total - distinct.size(), outOfOrder);
	}

	/** @return frames received by all sessions */
	public long totalFrames() {
		return this.sessions.stream().mapToLong(RawStompSocket::frameCount).sum();
	}

	/** Waits until no session has received a frame for {@code quiet}. */
	public void awaitQuiet(Duration quiet, Duration atMost) {
		AtomicLong last = new AtomicLong(totalFrames());
		AtomicLong since = new AtomicLong(System.nanoTime());
		await().atMost(atMost).pollInterval(Duration.ofMillis(100)).until(() -> {
			long now = totalFrames();
			if (now != last.getAndSet(now)) {
				since.set(System.nanoTime());
				return false;
			}
			return System.nanoTime() - since.get() >= quiet.toNanos();
		});
	}

	/** @return the sum of every {@code stomp.relay.dropped} counter of the node */
	public static double dropped(RelayNode node) {
		return node.bean(MeterRegistry.class)
			.find("stomp.relay.dropped")
			.counters()
			.stream()
			.mapToDouble(Counter::count)
			.sum();
	}

	/** @return the node's {@code stomp.relay.redis.connected} gauge */
	public static double connected(RelayNode node) {
		return node.bean(MeterRegistry.class).get("stomp.relay.redis.connected").gauge().value();
	}

	@Override
	public void close() {
		this.sessions.forEach(RawStompSocket::close);
	}

	/**
	 * @param distinct distinct messages received (by any session)
	 * @param duplicates messages received more than once
	 * @param outOfOrder sessions that received their messages out of order
	 */
	public record Outcome(long distinct, long duplicates, int outOfOrder) {
	}

}
