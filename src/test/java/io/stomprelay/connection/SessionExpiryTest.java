package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import io.stomprelay.session.TokenBucket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.Message;
import org.springframework.messaging.MessageChannel;
import org.springframework.messaging.simp.stomp.StompCommand;
import org.springframework.messaging.simp.stomp.StompHeaderAccessor;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;
import org.springframework.web.socket.CloseStatus;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * When a session's end is scheduled: at {@code exp} plus the clock skew the verifier allowed, so a
 * token accepted within its skew is not cut at once; after the maximum session age without
 * {@code exp}. An authenticated session then gets "token expired"; an anonymous one never has an
 * expiry, and a session that closes or ends first is not told.
 */
class SessionExpiryTest {

	private final RecordingScheduler scheduler = new RecordingScheduler();

	private final List<Message<?>> outbound = new CopyOnWriteArrayList<>();

	private final LocalSessionRegistry sessions = new LocalSessionRegistry(new SimpleMeterRegistry());

	@AfterEach
	void stop() {
		this.scheduler.shutdown();
	}

	@Test
	void theSessionEndsAtExpPlusTheClockSkew() {
		Instant exp = Instant.now().minusSeconds(2);
		expiry(Duration.ofSeconds(5));

		open("s1", "alice", exp);

		assertThat(this.scheduler.times).containsExactly(exp.plusSeconds(5));
	}

	@Test
	void withoutSkewTheSessionEndsAtExp() {
		Instant exp = Instant.now().plusSeconds(60);
		expiry(Duration.ZERO);

		open("s1", "alice", exp);

		assertThat(this.scheduler.times).containsExactly(exp);
	}

	@Test
	void withoutExpTheSessionEndsAfterTheMaximumAge() {
		Instant before = Instant.now();
		expiry(Duration.ofSeconds(5));

		open("s1", "alice", null);

		assertThat(this.scheduler.times).singleElement()
			.satisfies(end -> assertThat(end).isBetween(before.plus(Duration.ofHours(24)), Instant.now().plus(Duration.ofHours(24))));
	}

	@Test
	void anAuthenticatedSessionIsToldTokenExpiredWhenItsTimeComes() {
		SessionExpiry expiry = expiry(Duration.ZERO);

		open("s1", "alice", Instant.now().plusMillis(200));

		assertThat(expiry.scheduled()).isEqualTo(1);
		await().atMost(Duration.ofSeconds(5)).until(() -> !this.outbound.isEmpty());
		StompHeaderAccessor error = StompHeaderAccessor.wrap(this.outbound.get(0));
		assertThat(error.getCommand()).isEqualTo(StompCommand.ERROR);
		assertThat(error.getSessionId()).isEqualTo("s1");
		assertThat(error.getMessage()).isEqualTo(TokenVerifier.TOKEN_EXPIRED);
		assertThat(expiry.scheduled()).isZero();
	}

	@Test
	void anAnonymousSessionHasNoExpiry() {
		SessionExpiry expiry = expiry(Duration.ZERO);

		open("s1", null, null);

		assertThat(expiry.scheduled()).isZero();
		assertThat(this.scheduler.times).isEmpty();
	}

	@Test
	void aSessionThatClosesOrEndsFirstIsNotTold() {
		SessionExpiry expiry = expiry(Duration.ZERO);
		open("closes", "alice", Instant.now().plusMillis(200));
		open("ends", "bob", Instant.now().plusMillis(200));

		this.sessions.closed("closes", CloseStatus.NORMAL);
		this.sessions.end("ends");

		assertThat(expiry.scheduled()).isZero();
		await().during(Duration.ofMillis(500)).atMost(Duration.ofSeconds(2))
			.untilAsserted(() -> assertThat(this.outbound).isEmpty());
	}

	private SessionExpiry expiry(Duration clockSkew) {
		this.scheduler.initialize();
		MessageChannel outbound = (message, timeout) -> this.outbound.add(message);
		ClientErrors errors = new ClientErrors(new StaticListableBeanFactory(Map.of("clientOutboundChannel", outbound))
			.getBeanProvider(MessageChannel.class));
		SessionExpiry expiry = new SessionExpiry("test-node", this.scheduler, errors, Duration.ofHours(24), clockSkew,
				this.sessions);
		this.sessions.addListener(expiry);
		return expiry;
	}

	private void open(String id, String user, Instant tokenExpiresAt) {
		assertThat(this.sessions.open(id, user, tokenExpiresAt, new TokenBucket(10, 10), 10)).isNotNull();
	}

	/** Records when each task is scheduled for, and runs it then. */
	private static final class RecordingScheduler extends ThreadPoolTaskScheduler {

		final List<Instant> times = new CopyOnWriteArrayList<>();

		@Override
		public ScheduledFuture<?> schedule(Runnable task, Instant startTime) {
			this.times.add(startTime);
			return super.schedule(task, startTime);
		}

	}

}
