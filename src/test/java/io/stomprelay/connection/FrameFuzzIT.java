package io.stomprelay.connection;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RedisTestServer;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import org.springframework.messaging.simp.SimpMessagingTemplate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Throws at least 10,000 seeded random and mutated STOMP frames at node A over real WebSockets while
 * a well-behaved session on node B receives a steady stream relayed from node A. Passes only with no
 * error logged by either node, every message of the good session delivered, in order, and no bad
 * frame answered with "internal error" (a client's mistake gets a sentence that says what it was).
 */
class FrameFuzzIT {

	private static final long SEED = Long.getLong("fuzz.seed", 20261125L);

	private static final int FRAMES = 10_000;

	private static final int SOCKETS = 8;

	private static final String[] COMMANDS = { "CONNECT", "STOMP", "SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK",
			"BEGIN", "COMMIT", "ABORT", "DISCONNECT", "MESSAGE", "ERROR", "FROB", "", "send", "SEND " };

	private static final String[] DESTINATIONS = { "/app/events", "/app/chat", "/app/direct", "/app/announce",
			"/app/nothing", "/topic/chat", "/topic/*", "/topic/a/../b", "/queue/events", "/queue/events-user1",
			"/user/good/queue/fuzz", "/user/queue/events", "/user/queue/fuzz", "", "/", "//", "/app/../topic/chat",
			"\u0000", "/app/" + "x".repeat(300) };

	private static final String[] BODIES = { "", "{}", "{\"text\":\"hi\"}", "{\"to\":\"good\",\"text\":\"x\"}",
			"{\"text\":", "null", "[1,2,3]", "\"str\"", "{\"text\":\"" + "y".repeat(2000) + "\"}", "\u00ff\u00fe",
			"{\"to\":null,\"text\":null}" };

	@Test
	void tenThousandBadFramesCauseNoNodeErrorAndNoLostMessageForTheGoodSession() throws Exception {
		ErrorCounter errors = null;
		try (RedisTestServer redis = RedisTestServer.start();
				RelayNode nodeA = RelayNode.start("fuzz-a", redis);
				RelayNode nodeB = RelayNode.start("fuzz-b", redis);
				StompTestClient good = StompTestClient.connect(nodeB.wsUrl(), TestTokens.valid("good", "user"))
					.subscribe("/user/queue/fuzz")) {
			// attached after the nodes started: Spring Boot re-initializes logging on each start
			errors = ErrorCounter.attach();
			Random random = new Random(SEED);
			AtomicBoolean fuzzing = new AtomicBoolean(true);
			AtomicInteger published = new AtomicInteger();
			SimpMessagingTemplate template = nodeA.bean("brokerMessagingTemplate", SimpMessagingTemplate.class);
			Thread publisher = new Thread(() -> {
				while (fuzzing.get() && published.get() < 5_000) {
					template.convertAndSendToUser("good", "/queue/fuzz", published.incrementAndGet());
					await().pollDelay(Duration.ofMillis(5)).until(() -> true);
				}
			}, "fuzz-good-publisher");
			publisher.start();

			List<RawStompSocket> sockets = new ArrayList<>();
			List<RawStompSocket> opened = new ArrayList<>();
			int frames = 0;
			int connections = 0;
			long start = System.nanoTime();
			try {
				for (int i = 0; i < SOCKETS; i++) {
					sockets.add(open(nodeA, random, opened));
					connections++;
				}
				while (frames < FRAMES) {
					int slot = random.nextInt(SOCKETS);
					RawStompSocket socket = sockets.get(slot);
					if (socket.isClosed()) {
						socket.close();
						socket = open(nodeA, random, opened);
						sockets.set(slot, socket);
						connections++;
					}
					try {
						socket.sendText(frame(random));
						frames++;
					}
					catch (RuntimeException closedMeanwhile) {
						socket.close();
						sockets.set(slot, open(nodeA, random, opened));
						connections++;
					}
				}
			}
			finally {
				fuzzing.set(false);
				publisher.join(10_000);
				sockets.forEach(RawStompSocket::close);
			}
			long millis = (System.nanoTime() - start) / 1_000_000;
			int expected = published.get();
			await().atMost(Duration.ofSeconds(10)).until(() -> good.bodies("/user/queue/fuzz").size() >= expected);
			List<String> received = good.bodies("/user/queue/fuzz");
			System.out.printf("fuzz: seed=%d frames=%d connections=%d in %d ms; good session: published=%d received=%d; node errors=%d%n",
					SEED, frames, connections, millis, expected, received.size(), errors.count());
			assertThat(frames).isGreaterThanOrEqualTo(FRAMES);
			assertThat(received).hasSize(expected);
			for (int n = 1; n <= expected; n++) {
				assertThat(received.get(n - 1)).isEqualTo(String.valueOf(n));
			}
			assertThat(errors.messages()).isEmpty();
			Map<String, Long> answers = opened.stream()
				.flatMap(socket -> socket.frames().stream())
				.filter(frame -> frame.startsWith("ERROR\n"))
				.map(frame -> String.valueOf(RawStompSocket.header(frame, "message")))
				.collect(Collectors.groupingBy(message -> message.startsWith("internal error") ? "internal error" : message,
						TreeMap::new, Collectors.counting()));
			System.out.println("fuzz: ERROR answers " + answers);
			assertThat(answers).as("a client's bad frame is never an internal error").doesNotContainKey("internal error");
		}
		finally {
			if (errors != null) {
				errors.detach();
			}
		}
	}

	private static RawStompSocket open(RelayNode node, Random random, List<RawStompSocket> opened) {
		RawStompSocket socket = RawStompSocket.open(node.wsUrl());
		opened.add(socket);
		int choice = random.nextInt(10);
		if (choice < 6) {
			socket.sendFrame("CONNECT", "", "accept-version:1.2",
					"Authorization:Bearer " + TestTokens.valid("fuzzer" + random.nextInt(5), "user"));
		}
		else if (choice < 9) {
			socket.sendFrame("CONNECT", "", "accept-version:1.2");
		}
		return socket;
	}

	/** A random, mutated or valid frame (sometimes several in one WebSocket message). */
	private static String frame(Random random) {
		switch (random.nextInt(8)) {
			case 0: {
				byte[] bytes = new byte[1 + random.nextInt(200)];
				random.nextBytes(bytes);
				return new String(bytes, java.nio.charset.StandardCharsets.ISO_8859_1);
			}
			case 1:
				return "\n";
			case 2:
				return mutate(random, validFrame(random));
			case 3:
				return validFrame(random) + validFrame(random);
			default:
				return validFrame(random);
		}
	}

	private static String validFrame(Random random) {
		String command = pick(random, COMMANDS);
		StringBuilder frame = new StringBuilder(command).append('\n');
		frame.append("destination:").append(pick(random, DESTINATIONS)).append('\n');
		if (random.nextBoolean()) {
			frame.append("id:").append(random.nextInt(50)).append('\n');
		}
		if (random.nextInt(4) == 0) {
			frame.append("content-type:application/json\n");
		}
		String body = pick(random, BODIES);
		if (random.nextInt(6) == 0) {
			frame.append("content-length:").append(random.nextInt(4) == 0 ? random.nextInt(100_000) : body.length()).append('\n');
		}
		if (random.nextInt(10) == 0) {
			frame.append("x-").append(random.nextInt(1000)).append(':').append("v".repeat(random.nextInt(3000))).append('\n');
		}
		return frame.append('\n').append(body).append('\0').toString();
	}

	private static String mutate(Random random, String frame) {
		StringBuilder mutated = new StringBuilder(frame);
		int edits = 1 + random.nextInt(4);
		for (int i = 0; i < edits && mutated.length() > 0; i++) {
			int at = random.nextInt(mutated.length());
			switch (random.nextInt(4)) {
				case 0 -> mutated.deleteCharAt(at);
				case 1 -> mutated.insert(at, (char) random.nextInt(256));
				case 2 -> mutated.setCharAt(at, (char) random.nextInt(256));
				default -> mutated.insert(at, ":\n\u0000\\".charAt(random.nextInt(4)));
			}
		}
		return mutated.toString();
	}

	private static String pick(Random random, String[] values) {
		return values[random.nextInt(values.length)];
	}

	/** Counts ERROR-level log events from anywhere in this JVM (both nodes run here). */
	private static final class ErrorCounter extends AppenderBase<ILoggingEvent> {

		private final List<String> messages = new CopyOnWriteArrayList<>();

		static ErrorCounter attach() {
			ErrorCounter counter = new ErrorCounter();
			counter.setContext((ch.qos.logback.classic.LoggerContext) LoggerFactory.getILoggerFactory());
			counter.start();
			root().addAppender(counter);
			return counter;
		}

		void detach() {
			root().detachAppender(this);
			stop();
		}

		int count() {
			return this.messages.size();
		}

		List<String> messages() {
			return List.copyOf(this.messages);
		}

		@Override
		protected void append(ILoggingEvent event) {
			if (event.getLevel().isGreaterOrEqual(Level.ERROR)) {
				this.messages.add(event.getLoggerName() + ": " + event.getFormattedMessage());
			}
		}

		private static Logger root() {
			return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
		}

	}

}
