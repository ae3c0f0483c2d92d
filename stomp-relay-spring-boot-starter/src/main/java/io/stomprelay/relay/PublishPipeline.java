package io.stomprelay.relay;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;

import io.lettuce.core.RedisException;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.output.IntegerOutput;
import io.lettuce.core.output.NestedMultiOutput;
import io.lettuce.core.protocol.AsyncCommand;
import io.lettuce.core.protocol.Command;
import io.lettuce.core.protocol.CommandArgs;
import io.lettuce.core.protocol.CommandType;

/**
 * Writes the commands of the relay's publishing connection to Redis in batches that form by
 * themselves under load (automatic pipelining): while one batch is on its way to Redis and back,
 * the commands that come in wait here; when the last reply of that batch is in, everything waiting
 * goes out as the next batch, in one write, from the Redis I/O thread that read the reply.
 * <p>Why: Lettuce writes each command of a thread that is not its I/O thread by waking that thread,
 * which then makes one write system call for it; Redis reads it, answers it and the I/O thread reads
 * the answer, one wake-up and two system calls on each side per message. Here a publishing thread
 * wakes the I/O thread only when nothing is on the wire; a burst of messages (the publishes of one
 * {@code @SendTo} burst, of one HTTP push, of many threads at once) costs a few writes instead of one
 * per message. A lone command goes out at once, as before: nothing waits for a timer.
 * <p>Order: commands go out in the order they were handed in (one queue, one connection), so the
 * order of one thread's publishes, and of the sequence stamps {@link PublishSequences} gives them
 * under each channel's lock, is the order Redis sees them in.
 * <p>Failure: while the connection is down a command fails at once, as Lettuce rejects commands then
 * (nothing queues here behind a connection that is gone); a command already written completes or
 * times out at {@code stomp-relay.redis.command-timeout}, and the batch after it goes out then.
 * Every command handed in completes, with a reply or an exception.
 */
final class PublishPipeline {

	private final StatefulConnection<byte[], byte[]> connection;

	private final Object lock = new Object();

	/** Commands waiting for the batch on the wire to be answered; guarded by {@link #lock}. */
	private List<AsyncCommand<byte[], byte[], ?>> waiting = new ArrayList<>();

	/** Whether a batch is on the wire; guarded by {@link #lock}. */
	private boolean onTheWire;

	private final LongAdder batches = new LongAdder();

	/**
	 * @param connection the connection that publishes; every command that must keep its place among
	 * the publishes goes through here
	 */
	PublishPipeline(StatefulConnection<byte[], byte[]> connection) {
		this.connection = connection;
	}

	/**
	 * {@code PUBLISH channel message}.
	 * @return completes with the number of clients that received it
	 */
	CompletableFuture<Long> publish(byte[] channel, byte[] message) {
		return submit(new AsyncCommand<>(new Command<>(CommandType.PUBLISH, new IntegerOutput<>(ByteArrayCodec.INSTANCE),
				new CommandArgs<>(ByteArrayCodec.INSTANCE).addKey(channel).addValue(message))));
	}

	/**
	 * {@code EVAL script} with a nested multi-bulk reply ({@code ScriptOutputType.MULTI}).
	 * @return completes with the script's reply
	 */
	CompletableFuture<List<Object>> eval(byte[] script, byte[][] keys, byte[][] args) {
		CommandArgs<byte[], byte[]> commandArgs = new CommandArgs<>(ByteArrayCodec.INSTANCE).add(script)
			.add(keys.length)
			.addKeys(keys)
			.addValues(args);
		return submit(new AsyncCommand<>(
				new Command<>(CommandType.EVAL, new NestedMultiOutput<>(ByteArrayCodec.INSTANCE), commandArgs)));
	}

	private <T> CompletableFuture<T> submit(AsyncCommand<byte[], byte[], T> command) {
		if (!this.connection.isOpen()) {
			command.completeExceptionally(notConnected());
			return command;
		}
		synchronized (this.lock) {
			if (this.onTheWire) {
				this.waiting.add(command);
				return command;
			}
			this.onTheWire = true;
		}
		if (!write(List.of(command))) {
			next();
		}
		return command;
	}

	/** Called when the last command of the batch on the wire has completed. */
	private void next() {
		for (;;) {
			List<AsyncCommand<byte[], byte[], ?>> batch;
			synchronized (this.lock) {
				if (this.waiting.isEmpty()) {
					this.onTheWire = false;
					return;
				}
				batch = this.waiting;
				this.waiting = new ArrayList<>();
			}
			if (write(batch)) {
				return;
			}
		}
	}

	/**
	 * @return whether the batch is on the wire (its last command calls {@link #next()} when it
	 * completes); {@code false} when every command of it has failed already
	 */
	private boolean write(List<AsyncCommand<byte[], byte[], ?>> batch) {
		if (!this.connection.isOpen()) {
			RedisException failure = notConnected();
			batch.forEach(command -> command.completeExceptionally(failure));
			return false;
		}
		// Lettuce completes a connection's commands in the order they were written; a timeout or a
		// disconnect completes each of them too, so the last one always ends the batch.
		batch.get(batch.size() - 1).whenComplete((reply, failure) -> next());
		this.batches.increment();
		try {
			this.connection.dispatch(batch);
		}
		catch (RuntimeException ex) {
			batch.forEach(command -> command.completeExceptionally(ex));
		}
		return true;
	}

	/** @return how many batches (writes) have gone to Redis */
	long batches() {
		return this.batches.sum();
	}

	private static RedisException notConnected() {
		return new RedisException("Currently not connected. Commands are rejected.");
	}

}
