package io.stomprelay.connection;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledFuture;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import org.springframework.beans.factory.support.StaticListableBeanFactory;
import org.springframework.messaging.MessageChannel;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * When a session's end is scheduled: at {@code exp} plus the clock skew the verifier allowed, so a
 * token accepted within its skew is not cut at once; after the maximum session age without
 * {@code exp}.
 */
class SessionExpiryTest {

	private final RecordingScheduler scheduler = new RecordingScheduler();

	@AfterEach
	void stop() {
		this.scheduler.shutdown();
	}

	@Test
	void theSessionEndsAtExpPlusTheClockSkew() {
		Instant exp = Instant.now().minusSeconds(2);

		expiry(Duration.ofSeconds(5)).sessionAuthenticated("s1", exp);

		assertThat(this.scheduler.times).containsExactly(exp.plusSeconds(5));
	}

	@Test
	void withoutSkewTheSessionEndsAtExp() {
		Instant exp = Instant.now().plusSeconds(60);

		expiry(Duration.ZERO).sessionAuthenticated("s1", exp);

		assertThat(this.scheduler.times).containsExactly(exp);
	}

	@Test
	void withoutExpTheSessionEndsAfterTheMaximumAge() {
		Instant before = Instant.now();

		expiry(Duration.ofSeconds(5)).sessionAuthenticated("s1", null);

		assertThat(this.scheduler.times).singleElement()
			.satisfies(end -> assertThat(end).isBetween(before.plus(Duration.ofHours(24)), Instant.now().plus(Duration.ofHours(24))));
	}

	private SessionExpiry expiry(Duration clockSkew) {
		this.scheduler.initialize();
		MessageChannel outbound = (message, timeout) -> true;
		ClientErrors errors = new ClientErrors(new StaticListableBeanFactory(Map.of("clientOutboundChannel", outbound))
			.getBeanProvider(MessageChannel.class));
		return new SessionExpiry("test-node", this.scheduler, errors, Duration.ofHours(24), clockSkew);
	}

	/** Records when each task is scheduled for. */
	private static final class RecordingScheduler extends ThreadPoolTaskScheduler {

		final List<Instant> times = new CopyOnWriteArrayList<>();

		@Override
		public ScheduledFuture<?> schedule(Runnable task, Instant startTime) {
			this.times.add(startTime);
			return super.schedule(() -> { }, startTime);
		}

	}

}
