package io.stomprelay.relay;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisCommandTimeoutException;
import io.lettuce.core.RedisException;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.stomprelay.support.RedisTestServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * {@link PublishPipeline} against a real redis-server: order per publishing thread under a burst
 * from several threads at once, batches that form only while a batch is on the wire, a script that
 * keeps its place among the publishes, scripts by digest once Redis has their text (and sent again,
 * in order, when it lost them), and failures that complete every command and leave the
 * pipeline working.
 */
class PublishPipelineTest {

	private static final Duration TIMEOUT = Duration.ofSeconds(1);

	private static final LuaScript PUBLISH_SCRIPT = LuaScript.of("redis.call('PUBLISH', KEYS[1], ARGV[1]); return {ARGV[1]}");

	private RedisTestServer redis;

	private RedisClient client;

	private StatefulRedisConnection<byte[], byte[]> connection;

	private StatefulRedisPubSubConnection<byte[], byte[]> subscriber;

	private final Map<String, List<String>> received = new ConcurrentHashMap<>();

	private PublishPipeline pipeline;

	@BeforeEach
	void start() {
		this.redis = RedisTestServer.start();
		this.client = RedisClient.create(this.redis.url());
		this.client.setOptions(ClientOptions.builder()
			.disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
			.timeoutOptions(TimeoutOptions.enabled(TIMEOUT))
			.build());
		this.connection = this.client.connect(ByteArrayCodec.INSTANCE);
		this.subscriber = this.client.connectPubSub(ByteArrayCodec.INSTANCE);
		this.subscriber.addListener(new RedisPubSubAdapter<>() {
			@Override
			public void message(byte[] channel, byte[] message) {
				PublishPipelineTest.this.received
					.computeIfAbsent(text(channel), c -> new CopyOnWriteArrayList<>())
					.add(text(message));
			}
		});
		this.pipeline = new PublishPipeline(this.connection);
	}

	@AfterEach
	void stop() {
		this.subscriber.close();
		this.connection.close();
		this.client.shutdown();
		this.redis.close();
	}

	@Test
	void aLonePublishGoesOutAtOnceAndAnswersWithItsReceivers() throws Exception {
		subscribe("alone");

		assertThat(this.pipeline.publish(bytes("alone"), bytes("m0")).get(5, TimeUnit.SECONDS)).isEqualTo(1L);
		assertThat(this.pipeline.publish(bytes("nobody"), bytes("m1")).get(5, TimeUnit.SECONDS)).isZero();

		await().atMost(Duration.ofSeconds(5)).until(() -> received("alone").size() == 1);
		assertThat(received("alone")).containsExactly("m0");
		assertThat(this.pipeline.batches()).isEqualTo(2);
	}

	@Test
	void fourThreadsPublishingBackToBackKeepEachThreadsOrderInFewerWrites() throws Exception {
		int threads = 4;
		int perThread = 2_500;
		for (int t = 0; t < threads; t++) {
			subscribe("burst-" + t);
		}
		CountDownLatch go = new CountDownLatch(1);
		List<CompletableFuture<Long>> replies = new CopyOnWriteArrayList<>();
		List<Thread> publishers = new ArrayList<>();
		for (int t = 0; t < threads; t++) {
			String channel = "burst-" + t;
			Thread thread = new Thread(() -> {
				awaitQuietly(go);
				for (int i = 0; i < perThread; i++) {
					// every thread also writes to one shared channel, interleaved with the others
					replies.add(this.pipeline.publish(bytes(channel), bytes(Integer.toString(i))));
					replies.add(this.pipeline.publish(bytes("shared"), bytes(channel + ":" + i)));
				}
			});
			publishers.add(thread);
			thread.start();
		}
		subscribe("shared");
		go.countDown();
		for (Thread thread : publishers) {
			thread.join();
		}
		CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(30, TimeUnit.SECONDS);

		await().atMost(Duration.ofSeconds(30)).until(() -> received("shared").size() == threads * perThread);
		for (int t = 0; t < threads; t++) {
			List<String> expected = new ArrayList<>();
			List<String> sharedOfThread = new ArrayList<>();
			for (int i = 0; i < perThread; i++) {
				expected.add(Integer.toString(i));
				sharedOfThread.add("burst-" + t + ":" + i);
			}
			assertThat(received("burst-" + t)).containsExactlyElementsOf(expected);
			String prefix = "burst-" + t + ":";
			assertThat(received("shared").stream().filter(m -> m.startsWith(prefix)).toList())
				.containsExactlyElementsOf(sharedOfThread);
		}
		assertThat(replies).allSatisfy(reply -> assertThat(reply.join()).isEqualTo(1L));
		// 20,000 commands from four threads at once: most of them went out with others
		assertThat(this.pipeline.batches()).isLessThan(threads * perThread * 2 / 4);
	}

	@Test
	void aScriptKeepsItsPlaceAmongThePublishes() throws Exception {
		subscribe("ordered");
		List<CompletableFuture<?>> replies = new ArrayList<>();
		for (int i = 0; i < 300; i++) {
			replies.add((i % 3 == 1) ? publishByScript("ordered", "m" + i)
					: this.pipeline.publish(bytes("ordered"), bytes("m" + i)));
		}
		CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);

		await().atMost(Duration.ofSeconds(5)).until(() -> received("ordered").size() == 300);
		List<String> expected = new ArrayList<>();
		for (int i = 0; i < 300; i++) {
			expected.add("m" + i);
		}
		assertThat(received("ordered")).containsExactlyElementsOf(expected);
		assertThat((List<?>) replies.get(1).get()).singleElement().isEqualTo(bytes("m1"));
	}

	@Test
	void aScriptGoesWithItsTextOnceAndThenByItsDigest() throws Exception {
		subscribe("digest");
		for (int i = 0; i < 50; i++) {
			assertThat(publishByScript("digest", "m" + i).get(5, TimeUnit.SECONDS)).singleElement().isEqualTo(bytes("m" + i));
		}

		assertThat(commandCalls("eval")).isEqualTo(1);
		assertThat(commandCalls("evalsha")).isEqualTo(49);
		assertThat(this.pipeline.scriptResends()).isZero();
		await().atMost(Duration.ofSeconds(5)).until(() -> received("digest").size() == 50);
	}

	@Test
	void scriptCallsRefusedAfterAScriptFlushAreSentAgainInTheirOrder() throws Exception {
		subscribe("flushed");
		StatefulRedisConnection<byte[], byte[]> admin = this.client.connect(ByteArrayCodec.INSTANCE);
		List<CompletableFuture<List<Object>>> replies = new ArrayList<>();
		try {
			for (int i = 0; i < 400; i++) {
				if (i == 200) {
					admin.sync().scriptFlush();
				}
				replies.add(publishByScript("flushed", "m" + i));
			}
			CompletableFuture.allOf(replies.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
		}
		finally {
			admin.close();
		}

		for (int i = 0; i < 400; i++) {
			assertThat(replies.get(i).get()).singleElement().isEqualTo(bytes("m" + i));
		}
		assertThat(this.pipeline.scriptResends()).isPositive();
		await().atMost(Duration.ofSeconds(5)).until(() -> received("flushed").size() == 400);
		List<String> expected = new ArrayList<>();
		for (int i = 0; i < 400; i++) {
			expected.add("m" + i);
		}
		assertThat(received("flushed")).containsExactlyElementsOf(expected);
	}

	@Test
	void afterAReconnectToARestartedRedisAScriptGoesWithItsTextAgain() throws Exception {
		subscribe("restarted");
		assertThat(publishByScript("restarted", "before").get(5, TimeUnit.SECONDS)).hasSize(1);
		this.redis.kill();
		await().atMost(Duration.ofSeconds(10)).until(() -> !this.connection.isOpen());
		this.redis.restart();
		await().atMost(Duration.ofSeconds(30)).until(this.connection::isOpen);
		await().atMost(Duration.ofSeconds(10)).until(() -> this.subscriber.isOpen());

		assertThat(publishByScript("restarted", "after").get(5, TimeUnit.SECONDS)).singleElement().isEqualTo(bytes("after"));
		assertThat(commandCalls("eval")).isEqualTo(1);
		assertThat(commandCalls("evalsha")).isZero();
		assertThat(this.pipeline.scriptResends()).isZero();
	}

	@Test
	void whileRedisIsGoneAPublishFailsAtOnceAndThePipelineWorksAgainAfterwards() throws Exception {
		subscribe("after");
		this.redis.kill();
		await().atMost(Duration.ofSeconds(10)).until(() -> !this.connection.isOpen());

		CompletableFuture<Long> refused = this.pipeline.publish(bytes("after"), bytes("lost"));
		assertThat(refused).isCompletedExceptionally();
		assertThatThrownBy(refused::get).isInstanceOf(ExecutionException.class)
			.hasCauseInstanceOf(RedisException.class)
			.hasMessageContaining("not connected");

		this.redis.restart();
		await().atMost(Duration.ofSeconds(30)).until(this.connection::isOpen);
		await().atMost(Duration.ofSeconds(10)).until(() -> this.subscriber.isOpen());
		await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(
				this.pipeline.publish(bytes("after"), bytes("back")).get(5, TimeUnit.SECONDS)).isEqualTo(1L));
		// the reply can come before the subscriber's connection has read the message
		await().atMost(Duration.ofSeconds(5)).until(() -> received("after").contains("back"));
		assertThat(received("after")).contains("back").doesNotContain("lost");
	}

	@Test
	void publishesWaitingBehindABatchThatTimesOutStillGoOutAndComplete() throws Exception {
		subscribe("paused");
		StatefulRedisConnection<byte[], byte[]> admin = this.client.connect(ByteArrayCodec.INSTANCE);
		try {
			admin.sync().clientPause(TIMEOUT.toMillis() * 3);
			CompletableFuture<Long> first = this.pipeline.publish(bytes("paused"), bytes("p0"));
			List<CompletableFuture<Long>> behind = new ArrayList<>();
			for (int i = 1; i <= 20; i++) {
				behind.add(this.pipeline.publish(bytes("paused"), bytes("p" + i)));
			}

			assertThatThrownBy(() -> first.get(5, TimeUnit.SECONDS)).hasCauseInstanceOf(RedisCommandTimeoutException.class);
			// every command handed in completes, one way or the other, and none is lost from the pipeline
			CompletableFuture.allOf(behind.toArray(CompletableFuture[]::new))
				.handle((done, failure) -> null)
				.get(10, TimeUnit.SECONDS);
			assertThat(behind).allSatisfy(reply -> assertThat(reply).isDone());

			await().atMost(Duration.ofSeconds(10)).ignoreExceptions().untilAsserted(() -> assertThat(
					this.pipeline.publish(bytes("paused"), bytes("later")).get(5, TimeUnit.SECONDS)).isEqualTo(1L));
			await().atMost(Duration.ofSeconds(5)).until(() -> received("paused").contains("later"));
		}
		finally {
			admin.close();
		}
	}

	private CompletableFuture<List<Object>> publishByScript(String channel, String message) {
		return this.pipeline.eval(PUBLISH_SCRIPT, new byte[][] { bytes(channel) }, new byte[][] { bytes(message) });
	}

	/** @return how many times Redis ran a command since it started, from {@code INFO commandstats} */
	private long commandCalls(String command) {
		StatefulRedisConnection<byte[], byte[]> admin = this.client.connect(ByteArrayCodec.INSTANCE);
		try {
			String stats = admin.sync().info("commandstats");
			Matcher calls = Pattern.compile("cmdstat_" + command + ":calls=(\\d+)").matcher(stats);
			return calls.find() ? Long.parseLong(calls.group(1)) : 0;
		}
		finally {
			admin.close();
		}
	}

	private void subscribe(String channel) {
		this.subscriber.sync().subscribe(bytes(channel));
	}

	private List<String> received(String channel) {
		return this.received.getOrDefault(channel, List.of());
	}

	private static void awaitQuietly(CountDownLatch latch) {
		try {
			latch.await();
		}
		catch (InterruptedException ex) {
			Thread.currentThread().interrupt();
		}
	}

	private static byte[] bytes(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

	private static String text(byte[] bytes) {
		return new String(bytes, StandardCharsets.UTF_8);
	}

}
