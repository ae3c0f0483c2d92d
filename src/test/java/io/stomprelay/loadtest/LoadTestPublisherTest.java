package io.stomprelay.loadtest;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The publisher waits as the socket.io peer's does ({@code setTimeout(tick, Math.floor(waitMs))},
 * which Node raises to one millisecond): whole milliseconds, at least one.
 */
class LoadTestPublisherTest {

	@Test
	void waitsAtLeastOneMillisecondEvenWhenTheNextMessageIsDueSooner() {
		assertThat(LoadTestPublisher.tickWaitNanos(80_000)).isEqualTo(1_000_000);
		assertThat(LoadTestPublisher.tickWaitNanos(0)).isEqualTo(1_000_000);
		assertThat(LoadTestPublisher.tickWaitNanos(-250_000)).isEqualTo(1_000_000);
	}

	@Test
	void waitsWholeMillisecondsRoundedDown() {
		assertThat(LoadTestPublisher.tickWaitNanos(2_700_000)).isEqualTo(2_000_000);
		assertThat(LoadTestPublisher.tickWaitNanos(3_000_000)).isEqualTo(3_000_000);
	}

}
