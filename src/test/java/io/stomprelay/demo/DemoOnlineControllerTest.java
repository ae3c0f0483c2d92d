package io.stomprelay.demo;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

import io.stomprelay.demo.DemoOnlineController.Online;
import io.stomprelay.demo.DemoOnlineController.OnlineUser;
import io.stomprelay.presence.ClusterSession;
import io.stomprelay.presence.ClusterSessions;
import io.stomprelay.system.NodeIdentity;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.http.HttpStatus;
import org.springframework.web.ErrorResponseException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

class DemoOnlineControllerTest {

	@Test
	void listsEachUserOnceWithSessionCountAndSortedNodes() {
		Map<String, List<ClusterSession>> users = new LinkedHashMap<>();
		users.put("bob", List.of(session("bob", "node-b")));
		users.put("alice", List.of(session("alice", "node-b"), session("alice", "node-a"), session("alice", "node-b")));

		Online online = Online.of("node-a", users);

		assertThat(online.node()).isEqualTo("node-a");
		assertThat(online.total()).isEqualTo(2);
		assertThat(online.more()).isZero();
		assertThat(online.users()).containsExactly(new OnlineUser("alice", 3, List.of("node-a", "node-b")),
				new OnlineUser("bob", 1, List.of("node-b")));
	}

	@Test
	void listsAtMostAHundredUsersByNameAndCountsTheRest() {
		Map<String, List<ClusterSession>> users = new LinkedHashMap<>();
		for (int i = 149; i >= 0; i--) {
			String user = "user%03d".formatted(i);
			users.put(user, List.of(session(user, "node-a")));
		}
		users.put("gone", List.of());

		Online online = Online.of("node-a", users);

		assertThat(online.total()).isEqualTo(150);
		assertThat(online.users()).hasSize(DemoOnlineController.MAX_USERS);
		assertThat(online.users().get(0).user()).isEqualTo("user000");
		assertThat(online.users().get(99).user()).isEqualTo("user099");
		assertThat(online.more()).isEqualTo(50);
	}

	@Test
	void withoutAClusterPresenceThePanelAnswers503() {
		Throwable failure = catchThrowable(() -> new DemoOnlineController(
				new StaticListableBeanFactory().getBeanProvider(ClusterSessions.class), new NodeIdentity("node-a"))
			.online()
			.join());

		assertThat(failure.getCause()).isInstanceOfSatisfying(ErrorResponseException.class,
				ex -> assertThat(ex.getStatusCode()).isEqualTo(HttpStatus.SERVICE_UNAVAILABLE));
	}

	private static ObjectProvider<ClusterSessions> provider(ClusterSessions sessions) {
		return new StaticListableBeanFactory(Map.of("clusterSessions", sessions)).getBeanProvider(ClusterSessions.class);
	}

	@Test
	void aPresenceReadThatDoesNotCompleteAnswers503WithoutDetailsOfTheCause() {
		ClusterSessions sessions = new ClusterSessions("node-a", null, null, null) {
			@Override
			public CompletableFuture<Map<String, List<ClusterSession>>> users() {
				return CompletableFuture.failedFuture(new IllegalStateException("secret internals"));
			}
		};

		Throwable failure = catchThrowable(() -> new DemoOnlineController(provider(sessions), new NodeIdentity("node-a")).online().join());

		assertThat(failure).isInstanceOf(CompletionException.class);
		assertThat(failure.getCause()).isInstanceOfSatisfying(ErrorResponseException.class, ex -> {
			assertThat(ex.getStatusCode()).isEqualTo(HttpStatus.SERVICE_UNAVAILABLE);
			assertThat(ex.getBody().getDetail()).doesNotContain("secret");
		});
	}

	private static ClusterSession session(String user, String node) {
		return new ClusterSession(Integer.toHexString(System.identityHashCode(new Object())), user, node + "-1", node,
				Instant.now(), List.of());
	}

}
