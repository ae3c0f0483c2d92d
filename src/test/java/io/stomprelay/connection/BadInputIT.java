package io.stomprelay.connection;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.MeterRegistry;
import io.stomprelay.support.RawStompSocket;
import io.stomprelay.support.RelayCluster;
import io.stomprelay.support.RelayNode;
import io.stomprelay.support.StompTestClient;
import io.stomprelay.support.TestTokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Limits and malformed input on a node with small limits: the offending client gets a clear
 * {@code ERROR} (or a close where STOMP cannot answer), the rejection is counted, and a
 * well-behaved session keeps receiving its messages.
 */
class BadInputIT {

	private static RelayCluster cluster;

	private static RelayNode node;

	private static RelayNode other;

	private final List<AutoCloseable> open = new ArrayList<>();

	private StompTestClient bystander;

	private String bystanderName;

	@BeforeAll
	static void start() {
		String[] limits = { "stomp-relay.limits.inbound-rate=20", "stomp-relay.limits.inbound-burst=20",
				"stomp-relay.limits.max-subscriptions=5", "stomp-relay.limits.max-sessions-per-user=2",
				"stomp-relay.allowed-origins=https://app.example.com" };
		cluster = RelayCluster.start("input", (Object[]) limits);
		node = cluster.nodeA();
		other = cluster.nodeB();
	}

	@AfterAll
	static void stop() {
		cluster.close();
	}

	@AfterEach
	void closeAll() throws Exception {
		assertBystanderStillServed();
		for (AutoCloseable closeable : this.open) {
			closeable.close();
		}
	}

	@Test
	void oversizeFrameGetsFrameTooLargeAndIsCounted() {
		double before = rejections("frame-size");
		RawStompSocket client = connected(null);
		client.sendFrame("SEND", "x".repeat(65_600), "destination:/app/events");
		assertError(client, "frame too large");
		assertThat(rejections("frame-size")).isEqualTo(before + 1);
	}

	@Test
	void framesFarBeyondTheLimitAlsoGetFrameTooLarge() {
		RawStompSocket client = connected(null);
		client.sendFrame("SEND", "x".repeat(200_000), "destination:/app/events");
		assertError(client, "frame too large");
	}

	@Test
	void framesLargerThanTheContainerBufferButWithinTheLimitAreAccepted() {
		String user = "zoe-" + UUID.randomUUID().toString().substring(0, 6);
		RawStompSocket client = connected(user);
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/topic/chat", "receipt:r1");
		await().atMost(Duration.ofSeconds(5)).until(() -> client.firstFrame("RECEIPT") != null);
		client.sendFrame("SEND", "{\"text\":\"" + "é".repeat(400) + "z".repeat(20_000).substring(0, 400) + "\"}",
				"destination:/app/chat", "content-type:application/json");
		client.sendFrame("SEND", "{\"text\":\"" + "w".repeat(900) + "\"}" + " ".repeat(30_000),
				"destination:/app/chat", "content-type:application/json");
		await().atMost(Duration.ofSeconds(5)).until(() -> client.frames().stream().filter(f -> f.startsWith("MESSAGE\n")).count() == 2);
		assertThat(client.firstFrame("ERROR")).isNull();
		// multi-byte characters across the 1 KB read chunks, and MESSAGE frames larger than one write
		// (the two SENDs may be handled in either order: the inbound channel is a thread pool)
		List<String> messages = client.frames().stream().filter(f -> f.startsWith("MESSAGE\n")).toList();
		assertThat(messages).anySatisfy(m -> assertThat(m).contains("é".repeat(400) + "z".repeat(400)));
		assertThat(messages).anySatisfy(m -> assertThat(m).contains("w".repeat(900) + "\""));
	}

	@Test
	void binaryFramesFarLargerThanTheBinaryBufferAreAcceptedLikeTextOnes() {
		String user = "bin-" + UUID.randomUUID().toString().substring(0, 6);
		RawStompSocket client = connected(user);
		client.sendBinary(utf8(RawStompSocket.frame("SUBSCRIBE", "", "id:s1", "destination:/topic/chat", "receipt:r1")));
		await().atMost(Duration.ofSeconds(5)).until(() -> client.firstFrame("RECEIPT") != null);
		// within the demo chat's 1,000 characters, several times the 256-byte binary buffer each
		String first = "é".repeat(600) + "€".repeat(300) + "first";
		String second = "😀".repeat(200) + "x".repeat(500) + "second";
		// both SENDs (about 4.5 KB) in one binary message, cut in two WebSocket messages in the middle
		// of a character of the second frame
		byte[] frames = utf8(chatFrame(first) + chatFrame(second));
		int cut = utf8(chatFrame(first)).length + 101;
		client.sendBinary(Arrays.copyOfRange(frames, 0, cut));
		client.sendBinary(Arrays.copyOfRange(frames, cut, frames.length));

		await().atMost(Duration.ofSeconds(5)).until(() -> client.messages("/topic/chat").size() == 2);
		assertThat(client.firstFrame("ERROR")).isNull();
		assertThat(client.messages("/topic/chat")).satisfiesExactlyInAnyOrder(
				m -> assertThat(m).contains("\"text\":\"" + first + "\""),
				m -> assertThat(m).contains("\"text\":\"" + second + "\""));
	}

	private static String chatFrame(String text) {
		return RawStompSocket.frame("SEND", "{\"text\":\"" + text + "\"}", "destination:/app/chat",
				"content-type:application/json");
	}

	private static byte[] utf8(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

	@Test
	void floodingClientIsCutForRateAndCounted() {
		double before = rejections("rate");
		RawStompSocket flooder = connected(null);
		for (int i = 0; i < 60 && !flooder.isClosed(); i++) {
			flooder.sendFrame("SEND", "", "destination:/app/events");
		}
		assertError(flooder, "rate limit exceeded");
		assertThat(rejections("rate")).isEqualTo(before + 1);
	}

	@Test
	void aHeartBeatFloodIsCutForRateLikeAnyOtherFrame() {
		double before = rejections("rate");
		RawStompSocket flooder = connected(null);
		for (int i = 0; i < 60 && !flooder.isClosed(); i++) {
			flooder.sendText("\n");
		}
		assertError(flooder, "rate limit exceeded");
		assertThat(rejections("rate")).isEqualTo(before + 1);
	}

	@Test
	void heartBeatsAtAnOrdinaryPaceAreNeverCut() {
		// 10 heart-beats a second for 3 s: past the burst of 20, well under the rate of 20/s
		RawStompSocket client = connected(null);
		ScheduledExecutorService pacer = Executors.newSingleThreadScheduledExecutor();
		try {
			pacer.scheduleAtFixedRate(() -> client.sendText("\n"), 0, 100, TimeUnit.MILLISECONDS);
			await().during(Duration.ofSeconds(3)).atMost(Duration.ofSeconds(5))
				.until(() -> client.firstFrame("ERROR") == null && !client.isClosed());
		}
		finally {
			pacer.shutdownNow();
		}
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/topic/paced", "receipt:r1");
		awaitReceipt(client, "r1");
	}

	@Test
	void aSubscriptionIdInUseIsRefusedAndFreeAgainAfterUnsubscribe() {
		RawStompSocket client = connected(null);
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/topic/first", "receipt:r1");
		awaitReceipt(client, "r1");
		client.sendFrame("UNSUBSCRIBE", "", "id:s1");
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/topic/second", "receipt:r2");
		awaitReceipt(client, "r2");
		client.sendFrame("SUBSCRIBE", "", "id:s1", "destination:/topic/third", "receipt:r3");
		assertError(client, "subscription id in use");
	}

	@Test
	void framesBeforeConnectAreRefusedAsNotConnected() {
		for (String command : List.of("SEND", "SUBSCRIBE", "DISCONNECT")) {
			RawStompSocket early = RawStompSocket.open(node.wsUrl());
			this.open.add(early);
			early.sendFrame(command, "", "destination:/app/events", "id:s1");
			assertError(early, "not connected");
		}
	}

	@Test
	void aSecondConnectIsRefusedAsAlreadyConnected() {
		RawStompSocket twice = connected(null);
		twice.sendFrame("CONNECT", "", "accept-version:1.2");
		assertError(twice, "already connected");
	}

	@Test
	void framesAClientMayNotSendAreRefusedAsUnsupported() {
		for (String[] frame : List.of(new String[] { "ACK", "id:m1" }, new String[] { "NACK", "id:m1" },
				new String[] { "NACK", "x-no-id:1" }, new String[] { "BEGIN", "transaction:t1" },
				new String[] { "COMMIT", "transaction:t1" }, new String[] { "ABORT", "transaction:t1" },
				new String[] { "MESSAGE", "destination:/app/events" }, new String[] { "RECEIPT", "receipt-id:r1" },
				new String[] { "CONNECTED", "version:1.2" }, new String[] { "ERROR", "message:hi" })) {
			RawStompSocket client = connected(null);
			client.sendFrame(frame[0], "", frame[1]);
			assertError(client, "unsupported frame");
		}
	}

	@Test
	void tooManySubscriptionsIsRefused() {
		double before = rejections("subscriptions");
		RawStompSocket client = connected(null);
		for (int i = 1; i <= 6; i++) {
			client.sendFrame("SUBSCRIBE", "", "id:s" + i, "destination:/topic/t" + i);
		}
		assertError(client, "too many subscriptions");
		assertThat(rejections("subscriptions")).isEqualTo(before + 1);
	}

	@Test
	void tooManySessionsForOneUserIsRefusedAndFreedOnDisconnect() {
		String user = "wendy-" + UUID.randomUUID().toString().substring(0, 6);
		RawStompSocket first = connected(user);
		connected(user);
		RawStompSocket third = connect(user);
		assertError(third, "too many sessions for this user");
		first.close();
		await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
			RawStompSocket again = connect(user);
			await().atMost(Duration.ofSeconds(3)).until(() -> again.firstFrame("CONNECTED") != null || again.isClosed());
			assertThat(again.firstFrame("CONNECTED")).isNotNull();
		});
	}

	@Test
	void garbageAndBrokenFramesGetMalformedFrame() {
		RawStompSocket garbage = RawStompSocket.open(node.wsUrl());
		this.open.add(garbage);
		garbage.sendText("\u0001\u0002 not stomp at all\n\n\u0000");
		await().atMost(Duration.ofSeconds(5)).until(garbage::isClosed);

		RawStompSocket unknownCommand = connected(null);
		unknownCommand.sendFrame("FROBNICATE", "", "destination:/app/events");
		assertError(unknownCommand, "malformed frame");

		RawStompSocket wrongLength = connected(null);
		wrongLength.sendText("SEND\ndestination:/app/events\ncontent-length:3\n\nhello world\u0000");
		assertError(wrongLength, "malformed frame");
	}

	@Test
	void invalidJsonToChatGetsMalformedMessage() {
		RawStompSocket client = connected("xavier-" + UUID.randomUUID().toString().substring(0, 6));
		client.sendFrame("SEND", "{\"text\": oops", "destination:/app/chat", "content-type:application/json");
		assertError(client, "malformed message");
	}

	@Test
	void handshakeFromAForeignOriginIsRefusedAndFromAnAllowedOneAccepted() throws Exception {
		assertThat(handshakeStatus("https://evil.example.com")).isEqualTo(403);
		assertThat(handshakeStatus("https://app.example.com")).isEqualTo(101);
	}

	private int handshakeStatus(String origin) throws Exception {
		try (Socket socket = new Socket("127.0.0.1", node.port())) {
			socket.setSoTimeout(5000);
			OutputStream out = socket.getOutputStream();
			out.write(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + node.port() + "\r\nUpgrade: websocket\r\n"
					+ "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
					+ "Sec-WebSocket-Version: 13\r\nOrigin: " + origin + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
			out.flush();
			InputStream in = socket.getInputStream();
			StringBuilder status = new StringBuilder();
			for (int c = in.read(); c != -1 && c != '\r'; c = in.read()) {
				status.append((char) c);
			}
			return Integer.parseInt(status.toString().split(" ")[1]);
		}
	}

	private void assertBystanderStillServed() {
		if (this.bystander == null) {
			this.bystanderName = "bystander-" + UUID.randomUUID().toString().substring(0, 6);
			this.bystander = StompTestClient.connect(other.wsUrl(), TestTokens.valid(this.bystanderName, "user"))
				.subscribe("/user/queue/events");
			this.open.add(this.bystander);
		}
		StompTestClient sender = StompTestClient.connect(node.wsUrl(), TestTokens.valid(this.bystanderName, "user"))
			.subscribe("/user/queue/events");
		this.open.add(sender);
		sender.send("/app/events", "");
		await().atMost(Duration.ofSeconds(5))
			.untilAsserted(() -> assertThat(this.bystander.bodies("/user/queue/events")).containsExactly("1", "2", "3"));
	}

	private static void assertError(RawStompSocket socket, String message) {
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.firstFrame("ERROR") != null);
		String error = socket.firstFrame("ERROR");
		assertThat(RawStompSocket.header(error, "message")).isEqualTo(message);
		assertThat(error).doesNotContain("Exception").doesNotContain("\tat ");
		await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
	}

	private static void awaitReceipt(RawStompSocket socket, String receipt) {
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.frames().stream()
			.anyMatch(f -> f.startsWith("RECEIPT\n") && receipt.equals(RawStompSocket.header(f, "receipt-id"))));
		assertThat(socket.firstFrame("ERROR")).isNull();
	}

	private static double rejections(String limit) {
		return node.bean(MeterRegistry.class).get("stomp.relay.limit.rejections").tag("limit", limit).counter().count();
	}

	private RawStompSocket connect(String user) {
		List<String> headers = new ArrayList<>(List.of("accept-version:1.2"));
		if (user != null) {
			headers.add("Authorization:Bearer " + TestTokens.valid(user, "user"));
		}
		RawStompSocket socket = RawStompSocket.open(node.wsUrl()).sendFrame("CONNECT", "", headers.toArray(String[]::new));
		this.open.add(socket);
		return socket;
	}

	private RawStompSocket connected(String user) {
		RawStompSocket socket = connect(user);
		await().atMost(Duration.ofSeconds(5)).until(() -> socket.firstFrame("CONNECTED") != null);
		return socket;
	}

}
