package io.stomprelay.relay;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Reference counting of relay channels: subscribe on the first need, unsubscribe on the last
 * release, and never let the two cross.
 */
class ChannelInterestTest {

	private final RecordingBus bus = new RecordingBus();

	private final ChannelInterest interest = new ChannelInterest(this.bus);

	@Test
	void firstAcquireSubscribesOnce() {
		this.interest.acquire("c1");

		assertThat(this.bus.events).containsExactly("subscribe c1");
	}

	@Test
	void furtherAcquiresDoNotSubscribeAgain() {
		this.interest.acquire("c1");
		this.interest.acquire("c1");
		this.interest.acquire("c1");

		assertThat(this.bus.events).containsExactly("subscribe c1");
		assertThat(this.interest.count("c1")).isEqualTo(3);
	}

	@Test
	void anAcquireAfterAFailedSubscribeAsksAgain() {
		this.interest.acquire("c1");
		this.bus.subscribeFutures.get("c1").completeExceptionally(new IllegalStateException("Redis away"));

		CompletableFuture<Void> second = this.interest.acquire("c1");

		assertThat(this.bus.events).containsExactly("subscribe c1", "subscribe c1");
		assertThat(second).isNotDone();
		assertThat(this.interest.count("c1")).isEqualTo(2);
	}

	@Test
	void releaseToZeroUnsubscribesExactlyOnce() {
		this.interest.acquire("c1");
		this.interest.acquire("c1");

		this.interest.release("c1");
		assertThat(this.bus.events).containsExactly("subscribe c1");

		this.interest.release("c1");
		assertThat(this.bus.events).containsExactly("subscribe c1", "unsubscribe c1");
		assertThat(this.interest.count("c1")).isZero();
	}

	@Test
	void anExtraReleaseIsHarmless() {
		this.interest.acquire("c1");
		this.interest.release("c1");

		this.interest.release("c1");
		this.interest.release("never-acquired");

		assertThat(this.bus.events).containsExactly("subscribe c1", "unsubscribe c1");
		assertThat(this.interest.count("c1")).isZero();
		assertThat(this.interest.size()).isZero();
	}

	@Test
	void anExtraReleaseDoesNotStealAnotherHoldersInterest() {
		this.interest.acquire("c1");
		this.interest.release("c1");
		this.interest.release("c1");

		this.interest.acquire("c1");

		assertThat(this.interest.count("c1")).isEqualTo(1);
		assertThat(this.bus.events).containsExactly("subscribe c1", "unsubscribe c1", "subscribe c1");
	}

	@Test
	void reacquiringAfterTheLastReleaseSubscribesAgain() {
		this.interest.acquire("c1");
		this.interest.release("c1");
		this.interest.acquire("c1");

		assertThat(this.bus.events).containsExactly("subscribe c1", "unsubscribe c1", "subscribe c1");
	}

	@Test
	void countChannelsAndSizeReflectTheHeldChannels() {
		assertThat(this.interest.size()).isZero();
		assertThat(this.interest.channels()).isEmpty();
		assertThat(this.interest.count("c1")).isZero();

		this.interest.acquire("c1");
		this.interest.acquire("c1");
		this.interest.acquire("c2");

		assertThat(this.interest.count("c1")).isEqualTo(2);
		assertThat(this.interest.count("c2")).isEqualTo(1);
		assertThat(this.interest.count("c3")).isZero();
		assertThat(this.interest.size()).isEqualTo(2);
		assertThat(this.interest.channels()).containsExactlyInAnyOrder("c1", "c2");

		this.interest.release("c2");

		assertThat(this.interest.size()).isEqualTo(1);
		assertThat(this.interest.channels()).containsExactly("c1");
	}

	@Test
	void channelsIsASnapshot() {
		this.interest.acquire("c1");
		List<String> snapshot = this.interest.channels();

		this.interest.acquire("c2");

		assertThat(snapshot).containsExactly("c1");
	}

	@Test
	void theAcquireFutureFollowsTheBusSubscribeFutureWithoutBeingIt() {
		CompletableFuture<Void> first = this.interest.acquire("c1");
		CompletableFuture<Void> second = this.interest.acquire("c1");

		// the transport's future (a Lettuce command) would keep the command alive as long as the
		// channel is held; the interest keeps a dependent that holds only the outcome
		assertThat(first).isNotSameAs(this.bus.subscribeFutures.get("c1"));
		assertThat(second).as("later holders wait for the same subscription").isSameAs(first);
		assertThat(first).isNotDone();

		this.bus.subscribeFutures.get("c1").complete(null);

		assertThat(second).isCompleted();
	}

	@Test
	void theAcquireFutureFailsWhenTheBusSubscribeFails() {
		CompletableFuture<Void> first = this.interest.acquire("c1");

		this.bus.subscribeFutures.get("c1").completeExceptionally(new IllegalStateException("Redis away"));

		assertThat(first).isCompletedExceptionally();
	}

	@Test
	void aNewSubscriptionGetsANewFuture() {
		CompletableFuture<Void> first = this.interest.acquire("c1");
		CompletableFuture<Void> transportFirst = this.bus.subscribeFutures.get("c1");
		this.interest.release("c1");

		CompletableFuture<Void> second = this.interest.acquire("c1");

		assertThat(second).isNotSameAs(first);
		assertThat(this.bus.subscribeFutures.get("c1")).isNotSameAs(transportFirst);
		this.bus.subscribeFutures.get("c1").complete(null);
		assertThat(second).isCompleted();
		assertThat(first).isNotDone();
	}

	@Test
	void concurrentAcquireAndReleaseLeaveNoInterestAndNeverCrossSubscribeAndUnsubscribe() throws Exception {
		int threads = 8;
		int pairs = 1_000;
		String[] channels = { "c0", "c1", "c2" };
		this.bus.delayNanos = TimeUnit.MICROSECONDS.toNanos(20);
		ExecutorService pool = Executors.newFixedThreadPool(threads);
		try {
			CountDownLatch start = new CountDownLatch(1);
			List<Future<?>> done = new ArrayList<>();
			for (int t = 0; t < threads; t++) {
				int thread = t;
				done.add(pool.submit(() -> {
					start.await();
					for (int i = 0; i < pairs; i++) {
						String channel = channels[(thread + i) % channels.length];
						this.interest.acquire(channel);
						if (i % 7 == 0) {
							Thread.yield();
						}
						this.interest.release(channel);
					}
					return null;
				}));
			}
			start.countDown();
			for (Future<?> future : done) {
				future.get(10, TimeUnit.SECONDS);
			}
		}
		finally {
			pool.shutdownNow();
		}

		assertThat(this.interest.size()).isZero();
		assertThat(this.interest.channels()).isEmpty();
		for (String channel : channels) {
			assertThat(this.interest.count(channel)).isZero();
			List<String> sequence = this.bus.eventsFor(channel);
			assertThat(sequence).as(channel + " was used").isNotEmpty();
			for (int i = 0; i < sequence.size(); i++) {
				assertThat(sequence.get(i)).as("%s event %d", channel, i)
					.isEqualTo((i % 2 == 0) ? "subscribe" : "unsubscribe");
			}
			assertThat(sequence).as(channel + " ends unsubscribed").last().isEqualTo("unsubscribe");
		}
	}

	/**
	 * Records every bus call, in order; subscribe futures stay pending until a test completes them.
	 * With {@link #delayNanos} set, each call waits that long before it is recorded, outside any lock,
	 * which widens the window in which an unsynchronized caller could cross subscribe and unsubscribe.
	 */
	static final class RecordingBus implements RelayBus {

		final List<String> events = Collections.synchronizedList(new ArrayList<>());

		final Map<String, CompletableFuture<Void>> subscribeFutures = new ConcurrentHashMap<>();

		volatile long delayNanos;

		@Override
		public CompletableFuture<Long> publish(String channel, byte[] message) {
			throw new UnsupportedOperationException();
		}

		@Override
		public CompletableFuture<Void> subscribe(String channel) {
			delay();
			this.events.add("subscribe " + channel);
			CompletableFuture<Void> future = new CompletableFuture<>();
			this.subscribeFutures.put(channel, future);
			return future;
		}

		@Override
		public void unsubscribe(String channel) {
			delay();
			this.events.add("unsubscribe " + channel);
		}

		@Override
		public boolean isConnected() {
			return true;
		}

		List<String> eventsFor(String channel) {
			synchronized (this.events) {
				return this.events.stream()
					.filter(event -> event.endsWith(" " + channel))
					.map(event -> event.substring(0, event.indexOf(' ')))
					.toList();
			}
		}

		private void delay() {
			long until = System.nanoTime() + this.delayNanos;
			while (System.nanoTime() < until) {
				Thread.onSpinWait();
			}
		}

	}

}
