package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

import io.micrometer.core.instrument.Counter;
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
 * The promises under impatient clients, as @stomp/stompjs apps are: SUBSCRIBE and SEND straight
 * after CONNECTED, frames back to back, no RECEIPT asked for, no pause. On two real nodes against
 * one real Redis with real WebSocket sessions and real JWTs:
 * <ul>
 * <li>a client that subscribes and then sends sees its own message, exactly once;</li>
 * <li>one client's SENDs reach every subscriber on every node in the order they were sent.</li>
 * </ul>
 * The per-session frame rate limit is raised so that the 1,000 back-to-back SENDs are not cut for
 * rate; everything else is the default configuration.
 */
class ImpatientClientIT {

	private static final Duration QUIET = Duration.ofMillis(800);

	private static final String CHAT = "/topic/chat";

	private static final Pattern FROM = Pattern.compile("\"from\":\"([^\"]*)\"");

	private static final Pattern TEXT = Pattern.compile("\"text\":\"([^\"]*)\"");

	private static RelayCluster cluster;

	private static RelayNode nodeA;

	private static RelayNode nodeB;

	private final List<AutoCloseable> open = new ArrayList<>();

	@BeforeAll
	static void startCluster() {
		cluster = RelayCluster.start("impatient", EchoTestController.class, "stomp-relay.limits.inbound-rate=100000",
				"stomp-relay.limits.inbound-burst=100000");
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

	/**
	 * 15 fresh users arrive on node A together (node A has no /topic/chat subscriber yet); each
	 * connects, SUBSCRIBEs /topic/chat and at once SENDs /app/chat. An observer on node B
	 * subscribed beforehand (with a receipt). Three waves, each once the previous users have left.
	 */
	@Test
	void freshUsersWhoSubscribeAndSendAtOnceEachSeeTheirOwnChatMessageExactlyOnce() throws Exception {
		StompTestClient observer = client(nodeB, user("observer")).subscribe(CHAT);
		for (int wave = 0; wave < 3; wave++) {
			freshUsersArrive(wave, observer);
		}
	}

	private void freshUsersArrive(int wave, StompTestClient observer) throws Exception {
		String chatChannel = nodeA.bean(RelayChannels.class).destinationChannel(CHAT);
		await().atMost(Duration.ofSeconds(5)).until(() -> nodeA.bean(ChannelInterest.class).count(chatChannel) == 0);
		List<String> names = IntStream.range(0, 15).mapToObj(i -> user("fresh" + i)).toList();
		List<StompTestClient> senders = new ArrayList<>(Collections.nCopies(15, null));
		CyclicBarrier start = new CyclicBarrier(15);
		ExecutorService users = Executors.newFixedThreadPool(15);
		try {
			List<Future<?>> done = new ArrayList<>();
			for (int i = 0; i < 15; i++) {
				int n = i;
				done.add(users.submit(() -> {
					start.await(10, TimeUnit.SECONDS);
					StompTestClient sender = StompTestClient.connect(nodeA.wsUrl(), TestTokens.valid(names.get(n), "user"));
					senders.set(n, sender);
					sender.subscribeNoWait(CHAT);
					sender.send("/app/chat", "{\"text\":\"hello-" + n + "\"}");
					return null;
				}));
			}
			for (Future<?> user : done) {
				user.get(20, TimeUnit.SECONDS);
			}
		}
		finally {
			users.shutdownNow();
			senders.stream().filter(Objects::nonNull).forEach(this.open::add);
		}

		await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
			for (int i = 0; i < 15; i++) {
				assertThat(chatCount(observer.bodies(CHAT), names.get(i), "hello-" + i))
					.as("wave %d: observer on node B: hello-%d", wave, i).isPositive();
			}
		});
		await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> assertThat(sendersMissingOwn(senders, names))
			.as("wave %d: senders (of 15) that never saw their own chat message", wave).isEmpty());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			for (int i = 0; i < 15; i++) {
				assertThat(chatCount(senders.get(i).bodies(CHAT), names.get(i), "hello-" + i))
					.as("wave %d: sender %d sees its own message", wave, i).isEqualTo(1);
				assertThat(chatCount(observer.bodies(CHAT), names.get(i), "hello-" + i))
					.as("wave %d: observer on node B: hello-%d", wave, i).isEqualTo(1);
			}
			assertThat(senders).allSatisfy(sender -> assertThat(sender.errors()).isEmpty());
		});
		senders.forEach(StompTestClient::close);
	}

	/**
	 * The reported row: an admin token expiring in 3 s on the WebSocket upgrade, CONNECT without a
	 * header, then SUBSCRIBE and an authenticated-only SEND at once. The session is anonymous, the
	 * SEND is refused, and nothing reaches the other node.
	 */
	@Test
	void aTokenOnTheUpgradeRequestDoesNotMakeAnImpatientSessionThatUser() {
		StompTestClient observer = client(nodeB, user("watch-upgrade")).subscribe(CHAT);
		String admin = TestTokens.expiringIn("upgrade-admin", Duration.ofSeconds(3), "admin");
		try (RawStompSocket socket = RawStompSocket.open(nodeA.wsUrl(), java.util.Map.of("Authorization", "Bearer " + admin))) {
			socket.sendFrames(RawStompSocket.frame("CONNECT", "", "accept-version:1.2", "host:localhost"),
					RawStompSocket.frame("SUBSCRIBE", "", "id:1", "destination:" + CHAT),
					RawStompSocket.frame("SEND", "{\"text\":\"as admin?\"}", "destination:/app/chat",
							"content-type:application/json"));

			// the refusal (on the thread that read the SEND) may reach the client before the CONNECTED
			// (from the broker, on the session's lane): then the close that follows the ERROR leaves no
			// CONNECTED; either way the SEND was refused as anonymous and no frame names a user
			await().atMost(Duration.ofSeconds(5)).until(socket::isClosed);
			List<String> frames = socket.frames();
			assertThat(frames).filteredOn(frame -> frame.startsWith("ERROR\n"))
				.singleElement()
				.satisfies(error -> assertThat(RawStompSocket.header(error, "message")).isEqualTo("access denied"));
			assertThat(frames).filteredOn(frame -> !frame.startsWith("ERROR\n"))
				.allSatisfy(frame -> assertThat(frame).startsWith("CONNECTED\n"))
				.allSatisfy(connected -> assertThat(RawStompSocket.header(connected, "user-name")).isNull());
		}
		await().during(QUIET).atMost(QUIET.plusSeconds(2))
			.untilAsserted(() -> assertThat(observer.bodies(CHAT)).noneMatch(body -> body.contains("as admin?")));
	}

	/**
	 * One client on node A sends 100 chat messages back to back; observers on both nodes subscribed
	 * beforehand each get 0..99, once each, in order.
	 */
	@Test
	void oneClientsBackToBackChatMessagesArriveInOrderOnBothNodes() {
		String sender = user("burst");
		StompTestClient observerA = client(nodeA, user("watch-a")).subscribe(CHAT);
		StompTestClient observerB = client(nodeB, user("watch-b")).subscribe(CHAT);
		StompTestClient client = client(nodeA, sender);
		List<String> expected = IntStream.range(0, 100).mapToObj(String::valueOf).toList();

		expected.forEach(text -> client.send("/app/chat", "{\"text\":\"" + text + "\"}"));

		assertTextsInOrder(sender, expected, () -> observerA.bodies(CHAT), () -> observerB.bodies(CHAT),
				Duration.ofSeconds(10));
		assertThat(client.errors()).isEmpty();
	}

	/**
	 * 100 sessions, half on each node, 20 rounds: each round every session SUBSCRIBEs a fresh topic
	 * and at once SENDs to it (through {@link EchoTestController}); every sender sees its own
	 * message exactly once per round.
	 */
	@Test
	void underLoadEverySessionThatSubscribesAndSendsAtOnceSeesItsOwnMessageOncePerRound() {
		List<RawStompSocket> sessions = new ArrayList<>();
		for (int s = 0; s < 100; s++) {
			sessions.add(raw((s % 2 == 0) ? nodeA : nodeB, user("load" + s)));
		}
		int rounds = 20;
		for (int round = 0; round < rounds; round++) {
			for (int s = 0; s < sessions.size(); s++) {
				String room = room(round, s);
				sessions.get(s)
					.sendFrame("SUBSCRIBE", "", "id:sub-" + round, "destination:/topic/" + room)
					.sendFrame("SEND", round + "-" + s, "destination:/app/echo/" + room, "content-type:text/plain");
			}
			int current = round;
			await().atMost(Duration.ofSeconds(5)).untilAsserted(() -> {
				List<Integer> missing = new ArrayList<>();
				for (int s = 0; s < sessions.size(); s++) {
					if (sessions.get(s).messages("/topic/" + room(current, s)).isEmpty()) {
						missing.add(s);
					}
				}
				assertThat(missing).as("round %d: sessions (of %d) that never saw their own message", current,
						sessions.size()).isEmpty();
			});
		}
		await().during(QUIET).atMost(QUIET.plusSeconds(3)).untilAsserted(() -> {
			for (int round = 0; round < rounds; round++) {
				for (int s = 0; s < sessions.size(); s++) {
					assertThat(sessions.get(s).messages("/topic/" + room(round, s)))
						.as("round %d session %d", round, s).containsExactly(round + "-" + s);
				}
			}
		});
		assertThat(sessions).allSatisfy(session -> {
			assertThat(session.firstFrame("ERROR")).isNull();
			assertThat(session.isClosed()).isFalse();
		});
	}

	/**
	 * While 10 other sessions keep echoing (about 1,000 frames/s), one client on node A sends 1,000
	 * chat messages back to back; observers on both nodes get 0..999, once each, in order.
	 */
	@Test
	void underLoadOneClientsThousandBackToBackSendsArriveInOrderExactlyOnceOnBothNodes() {
		String sender = user("thousand");
		StompTestClient observerA = client(nodeA, user("watch-a")).subscribe(CHAT);
		StompTestClient observerB = client(nodeB, user("watch-b")).subscribe(CHAT);
		RawStompSocket client = raw(nodeA, sender);
		List<RawStompSocket> background = new ArrayList<>();
		for (int s = 0; s < 10; s++) {
			RawStompSocket session = raw((s % 2 == 0) ? nodeA : nodeB, user("bg" + s));
			session.sendFrame("SUBSCRIBE", "", "id:bg", "destination:/topic/bg-" + s);
			background.add(session);
		}
		ScheduledExecutorService load = Executors.newSingleThreadScheduledExecutor();
		AtomicInteger tick = new AtomicInteger();
		try {
			load.scheduleAtFixedRate(() -> {
				int n = tick.incrementAndGet();
				for (int s = 0; s < background.size(); s++) {
					background.get(s).sendFrame("SEND", "bg-" + n, "destination:/app/echo/bg-" + s);
				}
			}, 0, 10, TimeUnit.MILLISECONDS);
			await().atMost(Duration.ofSeconds(5)).until(() -> tick.get() >= 20);
			List<String> expected = IntStream.range(0, 1000).mapToObj(String::valueOf).toList();

			for (String text : expected) {
				client.sendFrame("SEND", "{\"text\":\"" + text + "\"}", "destination:/app/chat",
						"content-type:application/json");
			}

			assertTextsInOrder(sender, expected, () -> observerA.bodies(CHAT), () -> observerB.bodies(CHAT),
					Duration.ofSeconds(20));
		}
		finally {
			load.shutdownNow();
		}
		System.out.println("background echo ticks during the 1,000 sends: " + tick.get());
		assertThat(client.firstFrame("ERROR")).isNull();
		assertThat(background).allSatisfy(session -> assertThat(session.firstFrame("ERROR")).isNull());
	}

	private static void assertTextsInOrder(String sender, List<String> expected,
			Supplier<List<String>> observerA, Supplier<List<String>> observerB,
			Duration timeout) {
		await().atMost(timeout).untilAsserted(() -> {
			assertThat(textsFrom(observerA.get(), sender).size()).as(() -> "messages on node A; " + drops())
				.isGreaterThanOrEqualTo(expected.size());
			assertThat(textsFrom(observerB.get(), sender).size()).as(() -> "messages on node B; " + drops())
				.isGreaterThanOrEqualTo(expected.size());
		});
		System.out.println(expected.size() + " back-to-back SENDs: first position out of order on node A: "
				+ firstDifference(textsFrom(observerA.get(), sender), expected) + ", on node B: "
				+ firstDifference(textsFrom(observerB.get(), sender), expected) + " (-1: none); " + drops());
		await().during(QUIET).atMost(QUIET.plusSeconds(2)).untilAsserted(() -> {
			List<String> onA = textsFrom(observerA.get(), sender);
			List<String> onB = textsFrom(observerB.get(), sender);
			assertThat(onA).as("observer on node A").containsExactlyElementsOf(expected);
			assertThat(onB).as("observer on node B").containsExactlyElementsOf(expected);
		});
	}

	/** @return the relay's drop counters of both nodes, by reason, for failure messages */
	private static String drops() {
		StringBuilder drops = new StringBuilder("stomp.relay.dropped:");
		for (RelayNode node : List.of(nodeA, nodeB)) {
			for (Counter counter : node.bean(MeterRegistry.class).find("stomp.relay.dropped").counters()) {
				if (counter.count() > 0) {
					drops.append(' ').append(node.id()).append('/').append(counter.getId().getTag("reason")).append('=')
						.append((long) counter.count());
				}
			}
		}
		return drops.toString();
	}

	private static int firstDifference(List<String> actual, List<String> expected) {
		for (int i = 0; i < Math.min(actual.size(), expected.size()); i++) {
			if (!actual.get(i).equals(expected.get(i))) {
				return i;
			}
		}
		return (actual.size() == expected.size()) ? -1 : Math.min(actual.size(), expected.size());
	}

	private static List<String> sendersMissingOwn(List<StompTestClient> senders, List<String> names) {
		List<String> missing = new ArrayList<>();
		for (int i = 0; i < senders.size(); i++) {
			if (chatCount(senders.get(i).bodies(CHAT), names.get(i), "hello-" + i) == 0) {
				missing.add("sender " + i);
			}
		}
		return missing;
	}

	private static long chatCount(List<String> bodies, String from, String text) {
		return bodies.stream().filter(body -> from.equals(field(FROM, body)) && text.equals(field(TEXT, body))).count();
	}

	private static List<String> textsFrom(List<String> bodies, String from) {
		return bodies.stream().filter(body -> from.equals(field(FROM, body))).map(body -> field(TEXT, body)).toList();
	}

	private static String field(Pattern pattern, String json) {
		Matcher matcher = pattern.matcher(json);
		return matcher.find() ? matcher.group(1) : null;
	}

	private static String room(int round, int session) {
		return "round-" + round + "-s" + session;
	}

	private StompTestClient client(RelayNode node, String user) {
		StompTestClient client = StompTestClient.connect(node.wsUrl(), TestTokens.valid(user, "user"));
		this.open.add(client);
		return client;
	}

	private RawStompSocket raw(RelayNode node, String user) {
		RawStompSocket socket = RawStompSocket.connected(node.wsUrl(), TestTokens.valid(user, "user"));
		this.open.add(socket);
		return socket;
	}

	private static String user(String name) {
		return name + "-" + UUID.randomUUID().toString().substring(0, 8);
	}

}
