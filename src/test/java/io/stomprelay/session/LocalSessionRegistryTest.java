package io.stomprelay.session;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.web.socket.CloseStatus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;

/**
 * The one list of this node's sessions: opened once on an admitted CONNECT (with the per-user
 * limit), closed at most once, ended once, and what it answers meanwhile.
 */
class LocalSessionRegistryTest {

	private static final Instant NOW = Instant.parse("2030-01-02T03:04:05Z");

	private static final int NO_LIMIT = Integer.MAX_VALUE;

	private final MeterRegistry meters = new SimpleMeterRegistry();

	private final LocalSessionRegistry registry = new LocalSessionRegistry(Clock.fixed(NOW, ZoneOffset.UTC),
			this.meters);

	private final List<String> moments = new CopyOnWriteArrayList<>();

	LocalSessionRegistryTest() {
		this.registry.addListener(new LocalSessionRegistry.Listener() {
			@Override
			public void opened(LocalSession session) {
				LocalSessionRegistryTest.this.moments.add("opened " + session.id());
			}

			@Override
			public void closed(LocalSession session, CloseStatus status) {
				LocalSessionRegistryTest.this.moments.add("closed " + session.id() + " " + status.getCode());
			}

			@Override
			public void ended(LocalSession session) {
				LocalSessionRegistryTest.this.moments.add("ended " + session.id());
			}
		});
	}

	@Test
	void anOpenedSessionIsListedWithWhatItsConnectSaid() {
		Instant expiresAt = NOW.plusSeconds(600);
		TokenBucket rate = new TokenBucket(10, 10);

		LocalSession alice = open("s1", "alice", expiresAt, rate);
		LocalSession anonymous = open("s2", null);

		assertThat(alice.id()).isEqualTo("s1");
		assertThat(alice.user()).isEqualTo("alice");
		assertThat(alice.kind()).isEqualTo(LocalSession.Kind.AUTHENTICATED);
		assertThat(alice.connectedAt()).isEqualTo(NOW);
		assertThat(alice.tokenExpiresAt()).isEqualTo(expiresAt);
		assertThat(alice.inboundRate()).isSameAs(rate);
		assertThat(alice.isOpen()).isTrue();
		assertThat(anonymous.user()).isNull();
		assertThat(anonymous.kind()).isEqualTo(LocalSession.Kind.ANONYMOUS);
		assertThat(this.registry.get("s1")).isSameAs(alice);
		assertThat(this.registry.get("nope")).isNull();
		assertThat(this.registry.get(null)).isNull();
		assertThat(this.registry.sessionsOf("alice")).containsExactly(alice);
		assertThat(this.registry.sessionsOf("bob")).isEmpty();
		assertThat(this.registry.sessionsOf(null)).isEmpty();
		assertThat(this.registry.all()).containsExactlyInAnyOrder(alice, anonymous);
		assertThat(this.registry.count(LocalSession.Kind.AUTHENTICATED)).isOne();
		assertThat(this.registry.count(LocalSession.Kind.ANONYMOUS)).isOne();
		assertThat(gauge("authenticated")).isEqualTo(1);
		assertThat(gauge("anonymous")).isEqualTo(1);
		assertThat(this.moments).containsExactly("opened s1", "opened s2");
	}

	@Test
	void aSessionIdIsOpenedOnce() {
		LocalSession first = open("s1", "alice");

		assertThat(open("s1", "alice")).isSameAs(first);
		assertThat(this.registry.sessionsOf("alice")).containsExactly(first);
		assertThat(this.moments).containsExactly("opened s1");
	}

	@Test
	void aUserBeyondTheLimitIsRefusedAndLeavesNothingBehind() {
		LocalSession one = this.registry.open("s1", "alice", null, bucket(), 2);
		LocalSession two = this.registry.open("s2", "alice", null, bucket(), 2);

		assertThat(this.registry.open("s3", "alice", null, bucket(), 2)).isNull();

		assertThat(this.registry.get("s3")).isNull();
		assertThat(this.registry.sessionsOf("alice")).containsExactly(one, two);
		assertThat(gauge("authenticated")).isEqualTo(2);
		assertThat(this.registry.open("s4", "bob", null, bucket(), 2)).as("another user").isNotNull();
		assertThat(this.registry.open("s5", null, null, bucket(), 0)).as("anonymous sessions have no user limit")
			.isNotNull();
		assertThat(this.moments).doesNotContain("opened s3");
	}

	@Test
	void aClosedSessionNoLongerCountsTowardsItsUserButIsListedUntilItEnds() {
		LocalSession one = this.registry.open("s1", "alice", null, bucket(), 1);

		this.registry.closed("s1", CloseStatus.NORMAL);

		assertThat(one.isOpen()).isFalse();
		assertThat(this.registry.get("s1")).isSameAs(one);
		LocalSession again = this.registry.open("s2", "alice", null, bucket(), 1);
		assertThat(again).as("the closed session freed its place").isNotNull();
		assertThat(this.registry.sessionsOf("alice")).containsExactly(one, again);

		this.registry.end("s1");

		assertThat(this.registry.sessionsOf("alice")).containsExactly(again);
	}

	@Test
	void concurrentConnectsOfOneUserNeverTakeMoreThanTheLimit() throws Exception {
		int limit = 5;
		int attempts = 200;
		ExecutorService threads = Executors.newFixedThreadPool(8);
		CountDownLatch start = new CountDownLatch(1);
		List<Future<LocalSession>> results = new ArrayList<>();
		try {
			for (int i = 0; i < attempts; i++) {
				String id = "s" + i;
				results.add(threads.submit(() -> {
					start.await();
					return this.registry.open(id, "alice", null, bucket(), limit);
				}));
			}
			start.countDown();
			int admitted = 0;
			for (Future<LocalSession> result : results) {
				admitted += (result.get(10, TimeUnit.SECONDS) != null) ? 1 : 0;
			}
			assertThat(admitted).isEqualTo(limit);
			assertThat(this.registry.sessionsOf("alice")).hasSize(limit);
			assertThat(this.registry.all()).hasSize(limit);
		}
		finally {
			threads.shutdownNow();
		}
	}

	@Test
	void aSessionEndsOnceWithItsLastStateAndIsForgotten() {
		LocalSession session = open("s1", "alice");
		session.subscribe("a", "/topic/a");

		LocalSession ended = this.registry.end("s1");

		assertThat(ended).isSameAs(session);
		assertThat(ended.subscriptions()).containsEntry("a", "/topic/a");
		assertThat(ended.isOpen()).isFalse();
		assertThat(this.registry.end("s1")).isNull();
		assertThat(this.registry.end("never-opened")).isNull();
		assertThat(this.registry.end(null)).isNull();
		assertThat(this.registry.get("s1")).isNull();
		assertThat(this.registry.sessionsOf("alice")).isEmpty();
		assertThat(this.registry.all()).isEmpty();
		assertThat(gauge("authenticated")).isZero();
		assertThat(this.moments).containsExactly("opened s1", "ended s1");
	}

	@Test
	void aCloseIsReportedOnceAndNeverAfterTheEnd() {
		open("s1", null);
		open("s2", null);

		this.registry.closed("s1", CloseStatus.SESSION_NOT_RELIABLE);
		this.registry.closed("s1", CloseStatus.NORMAL);
		this.registry.end("s1");
		this.registry.end("s2");
		this.registry.closed("s2", CloseStatus.NORMAL);
		this.registry.closed("unknown", CloseStatus.NORMAL);

		assertThat(this.moments).containsExactly("opened s1", "opened s2",
				"closed s1 " + CloseStatus.SESSION_NOT_RELIABLE.getCode(), "ended s1", "ended s2");
	}

	@Test
	void subscriptionsAreKeptInOrderAndRequestedIdsAreCountedOnce() {
		LocalSession session = open("s1", null);

		assertThat(session.subscribe("b", "/topic/b")).isNull();
		assertThat(session.subscribe("a", "/user/queue/events")).isNull();
		assertThat(session.subscribe("b", "/topic/c")).isEqualTo("/topic/b");
		assertThat(session.subscriptions()).containsExactly(Map.entry("b", "/topic/c"),
				Map.entry("a", "/user/queue/events"));
		assertThat(session.unsubscribe("b")).isEqualTo("/topic/c");
		assertThat(session.unsubscribe("b")).isNull();
		assertThat(session.subscriptions()).containsOnlyKeys("a");

		assertThat(session.requestSubscription("x")).isTrue();
		assertThat(session.requestSubscription("x")).as("an id in use").isFalse();
		assertThat(session.requestSubscription("y")).isTrue();
		assertThat(session.subscriptionRequests()).isEqualTo(2);
		session.requestUnsubscription("x");
		assertThat(session.subscriptionRequests()).isEqualTo(1);
		assertThat(session.requestSubscription("x")).isTrue();
	}

	@Test
	void theBrokerConnectIsMarkedOnce() {
		LocalSession session = open("s1", "alice");

		assertThat(session.isConnected()).isFalse();
		assertThat(session.markConnected()).isTrue();
		assertThat(session.markConnected()).isFalse();
		assertThat(session.isConnected()).isTrue();
	}

	@Test
	void anExpiryTaskIsReplacedOrCancelledOnce() {
		LocalSession session = open("s1", "alice");
		ScheduledFuture<?> first = mock(ScheduledFuture.class);
		ScheduledFuture<?> second = mock(ScheduledFuture.class);

		session.expireWith(first);
		session.expireWith(second);
		verify(first).cancel(false);
		assertThat(session.hasExpiry()).isTrue();

		session.cancelExpiry();
		session.cancelExpiry();
		verify(second).cancel(false);
		assertThat(session.hasExpiry()).isFalse();
	}

	private LocalSession open(String id, String user) {
		return open(id, user, null, bucket());
	}

	private LocalSession open(String id, String user, Instant tokenExpiresAt, TokenBucket rate) {
		LocalSession session = this.registry.open(id, user, tokenExpiresAt, rate, NO_LIMIT);
		assertThat(session).isNotNull();
		return session;
	}

	private static TokenBucket bucket() {
		return new TokenBucket(100, 100);
	}

	private double gauge(String kind) {
		return this.meters.get("stomp.relay.sessions").tag("kind", kind).gauge().value();
	}

}
