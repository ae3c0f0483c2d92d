package io.stomprelay.connection;

import java.time.Instant;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;

import org.springframework.context.SmartLifecycle;
import org.springframework.context.support.GenericApplicationContext;
import org.springframework.scheduling.TaskScheduler;
import org.springframework.scheduling.concurrent.ThreadPoolTaskScheduler;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The relay's scheduler serves the node's own stop, which Spring runs after the context began closing.
 */
class StompRelaySchedulerTest {

	@Test
	void aBeanThatStopsAfterTheContextBeganClosingCanStillScheduleATask() {
		AtomicReference<String> scheduled = new AtomicReference<>("not asked");
		GenericApplicationContext context = new GenericApplicationContext();
		context.registerBean("stompRelayScheduler", ThreadPoolTaskScheduler.class,
				ClientChannelExecutors::stompRelayScheduler);
		context.registerBean("stopsLate", SmartLifecycle.class,
				() -> new SchedulesOnStop(context.getBean(TaskScheduler.class), scheduled));
		context.refresh();

		context.close();

		assertThat(scheduled).hasValue("accepted");
	}

	/** Like the presence or a closing session: schedules a task from its own stop. */
	private static final class SchedulesOnStop implements SmartLifecycle {

		private final TaskScheduler scheduler;

		private final AtomicReference<String> scheduled;

		private volatile boolean running;

		SchedulesOnStop(TaskScheduler scheduler, AtomicReference<String> scheduled) {
			this.scheduler = scheduler;
			this.scheduled = scheduled;
		}

		@Override
		public void start() {
			this.running = true;
		}

		@Override
		public void stop() {
			this.running = false;
			try {
				this.scheduler.schedule(() -> { }, Instant.now());
				this.scheduled.set("accepted");
			}
			catch (RuntimeException ex) {
				this.scheduled.set(ex.getClass().getSimpleName());
			}
		}

		@Override
		public boolean isRunning() {
			return this.running;
		}

	}

}
