package io.stomprelay.connection;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.IntStream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.messaging.Message;
import org.springframework.messaging.MessageHandler;
import org.springframework.messaging.simp.SimpMessageHeaderAccessor;
import org.springframework.messaging.simp.SimpMessageType;
import org.springframework.messaging.support.MessageBuilder;
import org.springframework.messaging.support.MessageHandlingRunnable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@link SessionLanes}: one session's tasks in order on a shared pool, sessions in parallel, a
 * paused session holding no thread, no lane left behind, and the thread that reads a session's
 * frames handling them itself only while nothing of that session is waiting.
 */
class SessionLanesTest {

	private final ExecutorService pool = Executors.newFixedThreadPool(4);

	private final SessionLanes lanes = new SessionLanes(this.pool);

	@AfterEach
	void stop() {
		this.pool.shutdownNow();
	}

	@Test
	void oneSessionsTasksRunInOrderWhileOtherSessionsInterleave() {
		List<String> ran = new CopyOnWriteArrayList<>();
		for (int i = 0; i < 500; i++) {
			for (String session : List.of("s1", "s2", "s3")) {
				int n = i;
				this.lanes.execute(task(session, () -> ran.add(session + ":" + n)));
			}
		}

		await().atMost(Duration.ofSeconds(5)).until(() -> ran.size() == 1500);
		for (String session : List.of("s1", "s2", "s3")) {
			assertThat(ran.stream().filter(r -> r.startsWith(session + ":")).toList())
				.containsExactlyElementsOf(IntStream.range(0, 500).mapToObj(n -> session + ":" + n).toList());
		}
		await().atMost(Duration.ofSeconds(1)).until(() -> this.lanes.activeSessions() == 0);
	}

	@Test
	void aPausedSessionWaitsRunsTheResumeFirstAndDoesNotHoldUpOthers() {
		List<String> ran = new CopyOnWriteArrayList<>();
		CompletableFuture<Void> redis = new CompletableFuture<>();
		this.lanes.execute(task("slow", () -> {
			ran.add("slow:subscribe-started");
			this.lanes.pauseUntil(redis, () -> ran.add("slow:subscribe-finished"));
		}));
		this.lanes.execute(task("slow", () -> ran.add("slow:send")));
		for (int i = 0; i < 20; i++) {
			int n = i;
			this.lanes.execute(task("other-" + i, () -> ran.add("other:" + n)));
		}

		await().atMost(Duration.ofSeconds(2)).until(() -> ran.stream().filter(r -> r.startsWith("other:")).count() == 20);
		await().during(Duration.ofMillis(300)).atMost(Duration.ofSeconds(1))
			.until(() -> !ran.contains("slow:subscribe-finished") && !ran.contains("slow:send"));

		redis.complete(null);

		await().atMost(Duration.ofSeconds(2)).until(() -> ran.contains("slow:send"));
		assertThat(ran.stream().filter(r -> r.startsWith("slow:")).toList())
			.containsExactly("slow:subscribe-started", "slow:subscribe-finished", "slow:send");
		await().atMost(Duration.ofSeconds(1)).until(() -> this.lanes.activeSessions() == 0);
	}

	@Test
	void aFailingTaskDoesNotStopItsSessionsLane() {
		List<String> ran = new CopyOnWriteArrayList<>();
		this.lanes.execute(task("s1", () -> {
			throw new IllegalStateException("handler failed");
		}));
		this.lanes.execute(task("s1", () -> ran.add("next")));

		await().atMost(Duration.ofSeconds(2)).until(() -> ran.contains("next"));
	}

	@Test
	void theReadingThreadHandlesItsSessionsFrameItselfWhenTheLaneIsIdle() throws Exception {
		Thread reader = Thread.currentThread();
		List<String> ran = new CopyOnWriteArrayList<>();

		this.lanes.readFrames("s1", () -> {
			this.lanes.execute(task("s1", () -> ran.add("s1:" + (Thread.currentThread() == reader))));
			this.lanes.execute(task("s2", () -> ran.add("s2:" + (Thread.currentThread() == reader))));
		});
		this.lanes.execute(task("s1", () -> ran.add("s1-not-reading:" + (Thread.currentThread() == reader))));

		assertThat(ran).startsWith("s1:true");
		await().atMost(Duration.ofSeconds(2)).until(() -> ran.size() == 3);
		assertThat(ran).contains("s2:false", "s1-not-reading:false");
		await().atMost(Duration.ofSeconds(1)).until(() -> this.lanes.activeSessions() == 0);
	}

	@Test
	void theReadingThreadQueuesItsFrameBehindTheSessionsEarlierWork() throws Exception {
		List<String> ran = new CopyOnWriteArrayList<>();
		CompletableFuture<Void> redis = new CompletableFuture<>();
		this.lanes.execute(task("s1", () -> this.lanes.pauseUntil(redis, () -> ran.add("subscribed"))));
		await().atMost(Duration.ofSeconds(2)).until(() -> this.lanes.activeSessions() == 1);

		this.lanes.readFrames("s1", () -> this.lanes.execute(task("s1", () -> ran.add("send"))));

		assertThat(ran).isEmpty();
		redis.complete(null);
		await().atMost(Duration.ofSeconds(2)).until(() -> ran.size() == 2);
		assertThat(ran).containsExactly("subscribed", "send");
	}

	@Test
	void aPauseInAFrameHandledByTheReadingThreadReleasesIt() throws Exception {
		List<String> ran = new CopyOnWriteArrayList<>();
		CompletableFuture<Void> redis = new CompletableFuture<>();

		this.lanes.readFrames("s1", () -> {
			this.lanes.execute(task("s1", () -> {
				ran.add("subscribe");
				this.lanes.pauseUntil(redis, () -> ran.add("subscribed"));
			}));
			this.lanes.execute(task("s1", () -> ran.add("send")));
		});

		assertThat(ran).containsExactly("subscribe");
		redis.complete(null);
		await().atMost(Duration.ofSeconds(2)).until(() -> ran.size() == 3);
		assertThat(ran).containsExactly("subscribe", "subscribed", "send");
		await().atMost(Duration.ofSeconds(1)).until(() -> this.lanes.activeSessions() == 0);
	}

	private static MessageHandlingRunnable task(String session, Runnable body) {
		SimpMessageHeaderAccessor accessor = SimpMessageHeaderAccessor.create(SimpMessageType.MESSAGE);
		accessor.setSessionId(session);
		Message<byte[]> message = MessageBuilder.createMessage(new byte[0], accessor.getMessageHeaders());
		return new MessageHandlingRunnable() {
			@Override
			public Message<?> getMessage() {
				return message;
			}

			@Override
			public MessageHandler getMessageHandler() {
				return m -> {
				};
			}

			@Override
			public void run() {
				body.run();
			}
		};
	}

}
