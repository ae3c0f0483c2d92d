package com.example.chat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.messaging.simp.user.SimpSubscription;
import org.springframework.messaging.simp.user.SimpUserRegistry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The chat, an application of its own that only adds the starter, run as two instances A and B on
 * one real Redis: what a user sends on A reaches the user's sessions and the room's subscribers on
 * B, exactly once and in order; with the relay switched off nothing crosses; and the chat's own HTTP
 * endpoints answer as they would without the starter.
 */
class ChatAcrossInstancesIT {

	private static final Duration ARRIVAL = Duration.ofSeconds(10);

	private static final Duration ABSENCE = Duration.ofSeconds(1);

	private static final String REPLIES = "/user/queue/replies";

	private static final String ROOM = "/topic/room";

	private static RedisTestServer redis;

	private static ConfigurableApplicationContext instanceA;

	private static ConfigurableApplicationContext instanceB;

	private final List<AutoCloseable> toClose = new ArrayList<>();

	@BeforeAll
	static void startRedisAndTwoInstances() {
		redis = RedisTestServer.start();
		instanceA = startInstance();
		instanceB = startInstance();
	}

	@AfterAll
	static void stopInstancesAndRedis() {
		Stream.of(instanceB, instanceA).filter(context -> context != null).forEach(ConfigurableApplicationContext::close);
		if (redis != null) {
			redis.close();
		}
	}

	@AfterEach
	void closeClientsAndExtraInstances() throws Exception {
		for (int i = this.toClose.size() - 1; i >= 0; i--) {
			this.toClose.get(i).close();
		}
	}

	@Test
	void aReplyToAUserReachesEverySessionOfThatUserOnBothInstancesExactlyOnce() {
		ChatClient aliceOnA = connect(instanceA, "alice").subscribe(REPLIES);
		ChatClient aliceOnB = connect(instanceB, "alice").subscribe(REPLIES);
		ChatClient bobOnA = connect(instanceA, "bob").subscribe(REPLIES);
		ChatClient bobOnB = connect(instanceB, "bob").subscribe(REPLIES);

		aliceOnA.send("/app/say", "hi");

		await().atMost(ARRIVAL)
			.until(() -> aliceOnA.bodies(REPLIES).size() + aliceOnB.bodies(REPLIES).size() >= 2);
		await().during(ABSENCE).atMost(ABSENCE.multipliedBy(3)).untilAsserted(() -> {
			assertThat(aliceOnA.bodies(REPLIES)).containsExactly("echo:hi");
			assertThat(aliceOnB.bodies(REPLIES)).containsExactly("echo:hi");
			assertThat(bobOnA.allBodies()).isEmpty();
			assertThat(bobOnB.allBodies()).isEmpty();
		});
		assertNoErrors(aliceOnA, aliceOnB, bobOnA, bobOnB);
	}

	@Test
	void fiftyShoutsOnAReachTheRoomOnBothInstancesExactlyOnceInOrder() {
		ChatClient listenerOnB = connect(instanceB, "dave").subscribe(ROOM);
		ChatClient listenerOnA = connect(instanceA, "erin").subscribe(ROOM);
		ChatClient carolOnA = connect(instanceA, "carol");
		List<String> expected = IntStream.rangeClosed(1, 50).mapToObj(i -> "carol: shout " + i).toList();

		for (int i = 1; i <= 50; i++) {
			carolOnA.send("/app/shout", "shout " + i);
		}

		await().atMost(ARRIVAL).until(() -> listenerOnB.bodies(ROOM).size() >= 50 && listenerOnA.bodies(ROOM).size() >= 50);
		await().during(ABSENCE).atMost(ABSENCE.multipliedBy(3)).untilAsserted(() -> {
			assertThat(listenerOnB.bodies(ROOM)).containsExactlyElementsOf(expected);
			assertThat(listenerOnA.bodies(ROOM)).containsExactlyElementsOf(expected);
			assertThat(carolOnA.allBodies()).isEmpty();
		});
		assertNoErrors(listenerOnB, listenerOnA, carolOnA);
	}

	@Test
	void withTheRelaySwitchedOffNothingCrossesFromOneInstanceToTheOther() {
		ConfigurableApplicationContext aloneA = startInstance("--stomp-relay.relay.enabled=false");
		this.toClose.add(aloneA::close);
		ConfigurableApplicationContext aloneB = startInstance("--stomp-relay.relay.enabled=false");
		this.toClose.add(aloneB::close);
		ChatClient aliceOnA = connect(aloneA, "alice").subscribe(REPLIES).subscribe(ROOM);
		ChatClient aliceOnB = connect(aloneB, "alice").subscribe(REPLIES).subscribe(ROOM);

		aliceOnA.send("/app/say", "hi");
		aliceOnA.send("/app/shout", "anyone?");

		// each instance is still a working chat on its own ...
		await().atMost(ARRIVAL).until(() -> aliceOnA.allBodies().size() >= 2);
		// ... but without the relay, B hears nothing of what was said on A
		await().during(ABSENCE).atMost(ABSENCE.multipliedBy(3)).untilAsserted(() -> {
			assertThat(aliceOnA.bodies(REPLIES)).containsExactly("echo:hi");
			assertThat(aliceOnA.bodies(ROOM)).containsExactly("alice: anyone?");
			assertThat(aliceOnB.allBodies()).isEmpty();
		});
		assertNoErrors(aliceOnA, aliceOnB);
	}

	@Test
	void withPresenceOnTheAppsOwnSimpUserRegistrySeesTheUsersOfBothInstances() {
		ConfigurableApplicationContext presenceA = startInstance("--stomp-relay.presence.enabled=true",
				"--stomp-relay.redis.channel-prefix=presence-chat");
		this.toClose.add(presenceA::close);
		ConfigurableApplicationContext presenceB = startInstance("--stomp-relay.presence.enabled=true",
				"--stomp-relay.redis.channel-prefix=presence-chat");
		this.toClose.add(presenceB::close);
		ChatClient aliceOnA = connect(presenceA, "alice").subscribe(ROOM);
		ChatClient aliceOnB = connect(presenceB, "alice").subscribe(REPLIES);
		ChatClient bobOnB = connect(presenceB, "bob");

		SimpUserRegistry registryOfA = presenceA.getBean(SimpUserRegistry.class);
		await().atMost(Duration.ofSeconds(1)).untilAsserted(() -> {
			assertThat(registryOfA.getUserCount()).isEqualTo(2);
			assertThat(registryOfA.getUser("alice").getSessions()).hasSize(2);
			assertThat(registryOfA.findSubscriptions(subscription -> true)).extracting(SimpSubscription::getDestination)
				.containsExactlyInAnyOrder(ROOM, REPLIES);
		});

		// delivery is unchanged: each instance still delivers to its own sessions only, once
		aliceOnA.send("/app/say", "hi");
		await().atMost(ARRIVAL).until(() -> aliceOnB.bodies(REPLIES).size() >= 1);
		await().during(ABSENCE).atMost(ABSENCE.multipliedBy(3))
			.untilAsserted(() -> assertThat(aliceOnB.bodies(REPLIES)).containsExactly("echo:hi"));

		bobOnB.close();
		await().atMost(Duration.ofSeconds(1)).until(() -> registryOfA.getUser("bob") == null);
		assertNoErrors(aliceOnA, aliceOnB);
	}

	@Test
	void theChatsOwnHttpEndpointsAnswerAsWithoutTheStarter() throws Exception {
		HttpClient http = HttpClient.newHttpClient();

		HttpResponse<String> hello = http.send(get(instanceA, "/hello"), HttpResponse.BodyHandlers.ofString());
		assertThat(hello.statusCode()).isEqualTo(200);
		assertThat(hello.body()).isEqualTo("hello from the chat");

		HttpResponse<String> page = http.send(get(instanceB, "/"), HttpResponse.BodyHandlers.ofString());
		assertThat(page.statusCode()).isEqualTo(200);
		assertThat(page.body()).contains("<title>Sample chat</title>", "/chat-ws?user=");

		// the starter brings no endpoint of its own
		HttpResponse<String> ws = http.send(get(instanceA, "/ws"), HttpResponse.BodyHandlers.ofString());
		assertThat(ws.statusCode()).isEqualTo(404);
	}

	private static ConfigurableApplicationContext startInstance(String... extraArguments) {
		List<String> arguments = new ArrayList<>(List.of("--server.port=0", "--spring.data.redis.url=" + redis.url(),
				"--spring.main.banner-mode=off"));
		arguments.addAll(List.of(extraArguments));
		return new SpringApplicationBuilder(ChatApplication.class).run(arguments.toArray(String[]::new));
	}

	private ChatClient connect(ConfigurableApplicationContext instance, String user) {
		ChatClient client = ChatClient.connect(port(instance), user);
		this.toClose.add(client);
		return client;
	}

	private static int port(ConfigurableApplicationContext instance) {
		return ((WebServerApplicationContext) instance).getWebServer().getPort();
	}

	private static HttpRequest get(ConfigurableApplicationContext instance, String path) {
		return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port(instance) + path)).GET().build();
	}

	private static void assertNoErrors(ChatClient... clients) {
		for (ChatClient client : clients) {
			assertThat(client.errors()).isEmpty();
		}
	}

}
