package io.stomprelay.history;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.stomprelay.relay.ClusterMessagingTemplate;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.TestTokens;
import io.stomprelay.support.TwoNodes;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static io.stomprelay.support.RawStompSocket.frame;
import static io.stomprelay.support.RawStompSocket.header;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * History and recovery on two real nodes and a real Redis, with clients that do not wait: each one
 * sends CONNECT and its resuming SUBSCRIBE in one go, and messages keep being published while they
 * resume.
 */
class HistoryRecoveryIT {

	private static final Duration WAIT = Duration.ofSeconds(20);

	@RegisterExtension
	static final TwoNodes nodes = TwoNodes.named("history",
			"--stomp-relay.history.destinations=/topic/history/**,/user/queue/notes",
			"--stomp-relay.history.size=1000", "--stomp-relay.history.ttl=4s",
			"--stomp-relay.history.max-recovery=2000");

	@Test
	void sessionThatMissedFiftyMessagesGetsExactlyThoseThenLiveOnes() {
		missedFiftyThenLive(nodes, "hist-fifty");
	}

	/**
	 * A session on B misses 50 messages published on A, resumes in the same WebSocket message as its
	 * CONNECT, and gets exactly those, in order, then live ones.
	 */
	static void missedFiftyThenLive(TwoNodes nodes, String user) {
		RawStompSocket first = subscribed(nodes.b(), user, "/user/queue/notes");
		sendToUser(nodes.a(), user, "before");
		String seen = await().atMost(WAIT).until(() -> lastPosition(first, "/user/queue/notes"), p -> p != null);
		first.close();
		for (int i = 1; i <= 50; i++) {
			sendToUser(nodes.a(), user, "missed-" + i);
		}

		RawStompSocket back = open(nodes.b(), user, "/user/queue/notes", seen);
		String receipt = back.awaitFrame("RECEIPT", WAIT);
		for (int i = 1; i <= 3; i++) {
			sendToUser(nodes.a(), user, "live-" + i);
		}

		List<String> expected = new ArrayList<>();
		for (int i = 1; i <= 50; i++) {
			expected.add("missed-" + i);
		}
		expected.addAll(List.of("live-1", "live-2", "live-3"));
		await().atMost(WAIT).until(() -> back.messages("/user/queue/notes").size() >= 53);
		await().during(Duration.ofMillis(300)).atMost(WAIT)
			.until(() -> back.messages("/user/queue/notes").size() == 53);
		assertThat(back.messages("/user/queue/notes")).containsExactlyElementsOf(expected);
		assertThat(header(receipt, "recovered")).isEqualTo("true");
		assertThat(header(receipt, "recovered-count")).isEqualTo("50");
		assertThat(offsets(back, "/user/queue/notes")).isEqualTo(range(offsetOf(seen) + 1, 53));
		// the receipt comes after the replay and before the live messages
		List<String> frames = back.frames();
		int receiptAt = frames.indexOf(receipt);
		assertThat(frames.subList(0, receiptAt).stream().filter(f -> f.startsWith("MESSAGE")).count()).isEqualTo(50);
	}

	@Test
	void resumesUnderContinuousPublishingWithoutHoleOrDuplicate() throws Exception {
		String destination = "/topic/history/seam";
		RawStompSocket watcher = subscribed(nodes.a(), "hist-watcher", destination);
		AtomicBoolean publishing = new AtomicBoolean(true);
		AtomicInteger published = new AtomicInteger();
		SimpMessagingTemplate onA = nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		SimpMessagingTemplate onB = nodes.b().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		CompletableFuture<Void> publisher = CompletableFuture.runAsync(() -> {
			// about a thousand a second, from both nodes, until every session resumed
			while (publishing.get() && published.get() < 10_000) {
				int n = published.incrementAndGet();
				((n % 2 == 0) ? onA : onB).convertAndSend(destination, "m" + n);
				pause();
			}
		});
		List<RawStompSocket> resumed = new ArrayList<>();
		List<Long> resumedAfter = new ArrayList<>();
		for (int i = 0; i < 20; i++) {
			int seenSoFar = 30 * (i + 1);
			await().atMost(WAIT).until(() -> watcher.messages(destination).size() >= seenSoFar);
			List<Long> watched = offsets(watcher, destination);
			long from = watched.get(Math.max(0, watched.size() - 1 - 10 * (i % 5)));
			String position = epochOf(lastPosition(watcher, destination)) + "-" + from;
			resumed.add(nodes.closedAfterTest(open((i % 2 == 0) ? nodes.b() : nodes.a(), "hist-seam-" + i, destination, position)));
			resumedAfter.add(from);
		}
		for (RawStompSocket session : resumed) {
			session.awaitFrame("RECEIPT", WAIT);
		}
		publishing.set(false);
		publisher.get(30, TimeUnit.SECONDS);
		long last = offsetOf(await().atMost(WAIT)
			.until(() -> lastPosition(watcher, destination), p -> p != null && offsetOf(p) >= published.get()));
		for (int i = 0; i < resumed.size(); i++) {
			RawStompSocket session = resumed.get(i);
			await().atMost(WAIT).until(() -> !offsets(session, destination).isEmpty()
					&& offsets(session, destination).get(offsets(session, destination).size() - 1) == last);
			List<Long> seen = offsets(session, destination);
			System.out.printf("seam session %d: resumed after %d, got %d..%d (%d messages)%n", i, resumedAfter.get(i),
					seen.get(0), seen.get(seen.size() - 1), seen.size());
			assertThat(header(session.firstFrame("RECEIPT"), "recovered")).as("session %d", i).isEqualTo("true");
			assertThat(seen).as("session %d", i).isEqualTo(range(resumedAfter.get(i) + 1, (int) (last - resumedAfter.get(i))));
		}
		assertThat(offsets(watcher, destination)).isEqualTo(range(offsets(watcher, destination).get(0), (int) last
				- offsets(watcher, destination).get(0).intValue() + 1));
		watcher.close();
	}

	@Test
	void notRecoveredForGarbageTrimmedAndTooFarBehindPositions() {
		String destination = "/topic/history/bounds";
		RawStompSocket watcher = subscribed(nodes.a(), "hist-bounds", destination);
		SimpMessagingTemplate onA = nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
		for (int i = 1; i <= 2_300; i++) {
			onA.convertAndSend(destination, "b" + i);
		}
		await().atMost(WAIT).until(() -> watcher.messages(destination).size() == 2_300);
		String epoch = epochOf(lastPosition(watcher, destination));
		long top = offsetOf(lastPosition(watcher, destination));

		assertNotRecovered(destination, "garbage");
		assertNotRecovered(destination, epoch + "-" + (top + 5));
		// more than max-recovery (2000) behind
		assertNotRecovered(destination, epoch + "-" + (top - 2_001));
		// within max-recovery, but the stream (size 1000, trimmed in blocks of 100) no longer has it
		assertNotRecovered(destination, epoch + "-" + (top - 1_999));
		// and just behind is recovered
		RawStompSocket near = nodes.closedAfterTest(open(nodes.b(), "hist-near", destination, epoch + "-" + (top - 3)));
		assertThat(header(near.awaitFrame("RECEIPT", WAIT), "recovered-count")).isEqualTo("3");
		assertThat(near.messages(destination)).containsExactly("b2298", "b2299", "b2300");
		watcher.close();
	}

	@Test
	void notRecoveredOnceTheHistoryExpired() {
		String destination = "/topic/history/expiring";
		RawStompSocket watcher = subscribed(nodes.a(), "hist-expiry", destination);
		nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend(destination, "old");
		String position = await().atMost(WAIT).until(() -> lastPosition(watcher, destination), p -> p != null);
		try (StatefulRedisConnection<String, String> redis = redis()) {
			await().atMost(WAIT).until(() -> redis.sync().keys("*history*" + destination + "*").isEmpty());
		}
		nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend(destination, "new");
		await().atMost(WAIT).until(() -> watcher.messages(destination).size() == 2);
		assertThat(epochOf(lastPosition(watcher, destination))).isNotEqualTo(epochOf(position));
		assertNotRecovered(destination, position);
		watcher.close();
	}

	@Test
	void authenticatedOnlyMessagesAreNotReplayedToAnonymousSessions() {
		String destination = "/topic/history/members";
		RawStompSocket watcher = subscribed(nodes.a(), "hist-member", destination);
		ClusterMessagingTemplate onA = nodes.a().bean(ClusterMessagingTemplate.class);
		onA.convertAndSend(destination, "a0");
		String before = await().atMost(WAIT).until(() -> lastPosition(watcher, destination), p -> p != null);
		onA.convertAndSend(destination, "a1");
		onA.convertAndSendToAuthenticated(destination, "members only");
		onA.convertAndSend(destination, "a2");
		await().atMost(WAIT).until(() -> watcher.messages(destination).size() == 4);

		RawStompSocket anonymous = nodes.closedAfterTest(open(nodes.b(), null, destination, before));
		RawStompSocket member = nodes.closedAfterTest(open(nodes.b(), "hist-member-2", destination, before));
		assertThat(header(anonymous.awaitFrame("RECEIPT", WAIT), "recovered-count")).isEqualTo("2");
		assertThat(anonymous.messages(destination)).containsExactly("a1", "a2");
		assertThat(header(member.awaitFrame("RECEIPT", WAIT), "recovered-count")).isEqualTo("3");
		assertThat(member.messages(destination)).containsExactly("a1", "members only", "a2");
		watcher.close();
	}

	@Test
	void destinationsWithoutHistoryCarryNoPositionAndWriteNothingToRedis() {
		RawStompSocket session = subscribed(nodes.b(), "hist-plain", "/topic/plain-no-history");
		RawStompSocket user = subscribed(nodes.b(), "hist-plain-user", "/user/queue/events");
		nodes.a().bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSend("/topic/plain-no-history", "p1");
		sendToUser(nodes.a(), "hist-plain-user", "/queue/events", "u1");
		await().atMost(WAIT).until(() -> session.messages("/topic/plain-no-history").size() == 1
				&& user.messages("/user/queue/events").size() == 1);
		assertThat(session.frames()).filteredOn(f -> f.startsWith("MESSAGE")).allMatch(f -> header(f, "stream-position") == null);
		assertThat(user.frames()).filteredOn(f -> f.startsWith("MESSAGE")).allMatch(f -> header(f, "stream-position") == null);
		try (StatefulRedisConnection<String, String> redis = redis()) {
			assertThat(redis.sync().keys("*plain-no-history*")).isEmpty();
			assertThat(redis.sync().keys("*hist-plain-user*")).allMatch(key -> key.contains(":presence:"));
		}
		session.close();
		user.close();
	}

	private void assertNotRecovered(String destination, String position) {
		RawStompSocket socket = open(nodes.b(), "hist-not-" + Math.abs(position.hashCode()), destination, position);
		String receipt = socket.awaitFrame("RECEIPT", WAIT);
		assertThat(header(receipt, "recovered")).as(position).isEqualTo("false");
		assertThat(header(receipt, "recovered-count")).isNull();
		assertThat(socket.frames().subList(0, socket.frames().indexOf(receipt)))
			.as("nothing replayed for %s", position)
			.noneMatch(f -> f.startsWith("MESSAGE"));
		socket.close();
	}

	/**
	 * Connects and subscribes at once (an impatient client), resuming from {@code resumeFrom} when
	 * not {@code null}, with a receipt.
	 */
	static RawStompSocket subscribed(RelayNode node, String user, String destination) {
		RawStompSocket socket = open(node, user, destination, null);
		socket.awaitFrame("RECEIPT", WAIT);
		return socket;
	}

	static RawStompSocket open(RelayNode node, String user, String destination, String resumeFrom) {
		RawStompSocket socket = RawStompSocket.open(node.wsUrl());
		List<String> headers = new ArrayList<>(List.of("id:sub-1", "destination:" + destination, "receipt:r-1"));
		if (resumeFrom != null) {
			headers.add("resume-from:" + resumeFrom);
		}
		socket.sendFrames(RawStompSocket.connectFrame((user != null) ? TestTokens.valid(user) : null),
				frame("SUBSCRIBE", "", headers.toArray(String[]::new)));
		return socket;
	}

	static void sendToUser(RelayNode node, String user, String body) {
		sendToUser(node, user, "/queue/notes", body);
	}

	static void sendToUser(RelayNode node, String user, String destination, String body) {
		node.bean("brokerMessagingTemplate", SimpMessagingTemplate.class).convertAndSendToUser(user, destination, body);
	}

	static String lastPosition(RawStompSocket socket, String destination) {
		String last = null;
		for (String frame : socket.frames()) {
			if (frame.startsWith("MESSAGE\n") && destination.equals(header(frame, "destination"))) {
				last = header(frame, "stream-position");
			}
		}
		return last;
	}

	static List<Long> offsets(RawStompSocket socket, String destination) {
		List<Long> offsets = new ArrayList<>();
		for (String frame : socket.frames()) {
			if (frame.startsWith("MESSAGE\n") && destination.equals(header(frame, "destination"))) {
				offsets.add(offsetOf(header(frame, "stream-position")));
			}
		}
		return offsets;
	}

	static long offsetOf(String position) {
		return Long.parseLong(position.substring(position.indexOf('-') + 1));
	}

	static String epochOf(String position) {
		return position.substring(0, position.indexOf('-'));
	}

	static List<Long> range(long from, int count) {
		List<Long> range = new ArrayList<>(count);
		for (int i = 0; i < count; i++) {
			range.add(from + i);
		}
		return range;
	}

	private static StatefulRedisConnection<String, String> redis() {
		return RedisClient.create(nodes.redis().url()).connect();
	}

	/** Paces the publisher (a rate, not a wait for something). */
	static void pause() {
		LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
	}

}
