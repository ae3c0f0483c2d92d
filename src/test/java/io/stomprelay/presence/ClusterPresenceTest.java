package io.stomprelay.presence;

import java.time.Duration;
import java.time.Instant;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.stomprelay.session.LocalSessionRegistry;
import org.junit.jupiter.api.Test;

import org.springframework.core.task.TaskRejectedException;
import org.springframework.scheduling.TaskScheduler;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

/**
 * The presence's reaction to Redis coming back, which runs on a Lettuce event loop.
 */
class ClusterPresenceTest {

	private final SimpleMeterRegistry meters = new SimpleMeterRegistry();

	private final TaskScheduler scheduler = mock(TaskScheduler.class);

	private final ClusterPresence presence = new ClusterPresence("node-test", mock(PresenceStore.class),
			new LocalSessionRegistry(this.meters), this.scheduler, Duration.ofSeconds(20), 10, this.meters);

	@Test
	void aReconnectionWhileTheNodeStopsThrowsNothingIntoTheEventLoop() {
		this.presence.start();
		// the context is closing: Spring's scheduler refuses new tasks before this bean is stopped
		when(this.scheduler.schedule(any(Runnable.class), any(Instant.class)))
			.thenThrow(new TaskRejectedException("ExecutorService in shutdown state did not accept task"));

		assertThatCode(this.presence::reconnected).doesNotThrowAnyException();
		verify(this.scheduler).schedule(any(Runnable.class), any(Instant.class));
	}

	@Test
	void aReconnectionWhileRunningWritesEverythingAgainAtOnce() {
		this.presence.start();

		this.presence.reconnected();

		verify(this.scheduler).schedule(any(Runnable.class), any(Instant.class));
		verify(this.scheduler).scheduleAtFixedRate(any(Runnable.class), any(Instant.class), eq(Duration.ofSeconds(5)));
	}

}
