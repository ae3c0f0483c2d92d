package io.stomprelay.relay;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@link PublishSequences} and {@link ReceiveGaps} together: a receiver counts exactly the messages
 * that were published but did not reach it, never the ones the publisher already counted.
 */
class LossAccountingTest {

	private static final String CHANNEL = "t:user:alice";

	private final PublishSequences sequences = new PublishSequences(Duration.ofMinutes(1));

	private final ReceiveGaps gaps = new ReceiveGaps();

	private final EnvelopeCodec codec = new EnvelopeCodec(1024);

	private final List<byte[]> reachedRedis = new ArrayList<>();

	@Test
	void messagesPublishedWhileTheReceiverWasNotSubscribedAreCountedOnce() {
		this.gaps.open(CHANNEL);
		long missed = 0;
		missed += receive(publish(true));
		missed += receive(publish(true));
		publish(false); // Redis away: the publisher counts it
		publish(false);
		publish(true); // Redis back, the receiver not yet subscribed: silent unless counted here
		publish(true);
		publish(true);
		missed += receive(publish(true));
		missed += receive(publish(true));

		assertThat(missed).isEqualTo(3);
	}

	@Test
	void aFailureTheOriginLearnsOfAfterItsNextPublishIsCountedByBoth() {
		this.gaps.open(CHANNEL);
		receive(publish(true));
		CompletableFuture<Long> late = new CompletableFuture<>();
		publishWith(late);
		byte[] next = publish(true);
		late.completeExceptionally(new IllegalStateException("timed out"));

		assertThat(receive(next)).isEqualTo(1);
		assertThat(receive(publish(true))).isZero();
	}

	@Test
	void nothingIsCountedForAChannelTheNodeDoesNotHoldOrForTheFirstMessageOfAnOrigin() {
		publish(true);
		assertThat(receive(publish(true))).isZero();

		this.gaps.open(CHANNEL);
		publish(true);
		assertThat(receive(publish(true))).isZero();
		this.gaps.close(CHANNEL);
		publish(true);
		assertThat(receive(publish(true))).isZero();
	}

	@Test
	void aNewStreamAfterTheOriginForgotAnIdleChannelStartsAgainWithoutAGap() {
		PublishSequences forgetful = new PublishSequences(Duration.ZERO);
		this.gaps.open(CHANNEL);
		assertThat(receive(publish(forgetful, true))).isZero();
		forgetful.retireIdle();
		assertThat(forgetful.size()).isZero();

		assertThat(receive(publish(forgetful, true))).isZero();
		publish(forgetful, true);
		assertThat(receive(publish(forgetful, true))).isEqualTo(1);
	}

	@Test
	void aRepeatedOrOlderSequenceIsARepeatAndCountsNoGap() {
		this.gaps.open(CHANNEL);
		byte[] first = publish(true);
		byte[] second = publish(true);
		receive(first);
		receive(second);

		assertThat(receive(second)).isEqualTo(ReceiveGaps.REPEAT);
		assertThat(receive(first)).isEqualTo(ReceiveGaps.REPEAT);
		assertThat(receive(publish(true))).isZero();
	}

	private byte[] publish(boolean reachesRedis) {
		return publish(this.sequences, reachesRedis);
	}

	private byte[] publish(PublishSequences publisher, boolean reachesRedis) {
		byte[] envelope = this.codec.encode(new RelayEnvelope("node-a", "m", MessageKind.USER, "alice",
				"/user/alice/queue/x", 0, null, java.util.Map.of(), new byte[0]));
		publisher.publish(CHANNEL, envelope, bytes -> reachesRedis ? CompletableFuture.completedFuture(1L)
				: CompletableFuture.failedFuture(new IllegalStateException("down")));
		return envelope;
	}

	private void publishWith(CompletableFuture<Long> outcome) {
		byte[] envelope = this.codec.encode(new RelayEnvelope("node-a", "m", MessageKind.USER, "alice",
				"/user/alice/queue/x", 0, null, java.util.Map.of(), new byte[0]));
		this.sequences.publish(CHANNEL, envelope, bytes -> outcome);
	}

	private long receive(byte[] envelope) {
		return this.gaps.observe(CHANNEL, "node-a", EnvelopeCodec.readStamp(envelope));
	}

}
