package io.stomprelay.relay;

import java.net.SocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisConnectionStateListener;
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
 * <p>Scripts: the first call of a script on a connection (after each connect) carries the script's
 * text ({@code EVAL}), every later one only its digest ({@code EVALSHA}, see {@link LuaScript}):
 * Redis runs one connection's commands in order, so it has the script by then. Should Redis answer
 * {@code NOSCRIPT} all the same (an operator's {@code SCRIPT FLUSH}, a call already on the wire when
 * the connection was re-established to a Redis that lost its scripts) the call did nothing, and it
 * is sent again with the text at the head of the next batch, before every command handed in after
 * it, the refused calls of one batch in their order. So a destination whose messages all go through
 * a script keeps its order even then; only a plain {@code PUBLISH} in the same batch as such a call
 * can overtake it.
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

	private final LongAdder scriptResends = new LongAdder();

	/** Scripts sent with their text since the connection last connected. */
	private final Set<LuaScript> knownScripts = ConcurrentHashMap.newKeySet();

	/**
	 * @param connection the connection that publishes; every command that must keep its place among
	 * the publishes goes through here
	 */
	PublishPipeline(StatefulConnection<byte[], byte[]> connection) {
		this.connection = connection;
		connection.addListener(new RedisConnectionStateListener() {
			@Override
			public void onRedisConnected(RedisChannelHandler<?, ?> channel, SocketAddress address) {
				PublishPipeline.this.knownScripts.clear();
			}

			@Override
			public void onRedisDisconnected(RedisChannelHandler<?, ?> channel) {
				PublishPipeline.this.knownScripts.clear();
			}
		});
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
	 * Runs a script ({@code EVAL} or {@code EVALSHA}, see the class comment) with a nested
	 * multi-bulk reply ({@code ScriptOutputType.MULTI}).
	 * @return completes with the script's reply
	 */
	CompletableFuture<List<Object>> eval(LuaScript script, byte[][] keys, byte[][] args) {
		ScriptCall call = new ScriptCall(script, keys, args);
		submit(this.knownScripts.add(script) ? call.withText() : call.byDigest());
		return call.reply;
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
			next(List.of());
		}
		return command;
	}

	/**
	 * Called when the last command of the batch on the wire has completed: sends the script calls of
	 * that batch that Redis did not know the script for, then everything waiting.
	 * @param answered the batch that has completed (every command of it)
	 */
	private void next(List<AsyncCommand<byte[], byte[], ?>> answered) {
		List<AsyncCommand<byte[], byte[], ?>> resend = resendWithText(answered);
		for (;;) {
			List<AsyncCommand<byte[], byte[], ?>> batch;
			synchronized (this.lock) {
				if (resend.isEmpty() && this.waiting.isEmpty()) {
					this.onTheWire = false;
					return;
				}
				if (resend.isEmpty()) {
					batch = this.waiting;
				}
				else {
					batch = resend;
					batch.addAll(this.waiting);
					resend = List.of();
				}
				this.waiting = new ArrayList<>();
			}
			if (write(batch)) {
				return;
			}
		}
	}

	private List<AsyncCommand<byte[], byte[], ?>> resendWithText(List<AsyncCommand<byte[], byte[], ?>> answered) {
		List<AsyncCommand<byte[], byte[], ?>> resend = null;
		for (AsyncCommand<byte[], byte[], ?> command : answered) {
			if (command instanceof ScriptCommand script && script.scriptUnknown()) {
				if (resend == null) {
					resend = new ArrayList<>();
				}
				resend.add(script.call.withText());
			}
		}
		if (resend == null) {
			return List.of();
		}
		this.scriptResends.add(resend.size());
		return resend;
	}

	/**
	 * @return whether the batch is on the wire (its last command calls {@link #next(List)} when it
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
		batch.get(batch.size() - 1).whenComplete((reply, failure) -> next(batch));
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

	/** @return how many script calls went out again with the script's text after a {@code NOSCRIPT} */
	long scriptResends() {
		return this.scriptResends.sum();
	}

	private static RedisException notConnected() {
		return new RedisException("Currently not connected. Commands are rejected.");
	}

	/**
	 * One script call: sent by digest first, and with the script's text if Redis answers
	 * {@code NOSCRIPT}; {@link #reply} completes with the answer to whichever ran.
	 */
	private static final class ScriptCall {

		private final LuaScript script;

		private final byte[][] keys;

		private final byte[][] args;

		private final CompletableFuture<List<Object>> reply = new CompletableFuture<>();

		ScriptCall(LuaScript script, byte[][] keys, byte[][] args) {
			this.script = script;
			this.keys = keys;
			this.args = args;
		}

		AsyncCommand<byte[], byte[], List<Object>> byDigest() {
			ScriptCommand command = new ScriptCommand(this);
			command.whenComplete((result, failure) -> {
				if (!command.scriptUnknown()) {
					forward(result, failure);
				}
			});
			return command;
		}

		AsyncCommand<byte[], byte[], List<Object>> withText() {
			AsyncCommand<byte[], byte[], List<Object>> command = new AsyncCommand<>(
					commandOf(CommandType.EVAL, this.script.body()));
			command.whenComplete(this::forward);
			return command;
		}

		Command<byte[], byte[], List<Object>> commandOf(CommandType type, byte[] script) {
			CommandArgs<byte[], byte[]> commandArgs = new CommandArgs<>(ByteArrayCodec.INSTANCE).add(script)
				.add(this.keys.length)
				.addKeys(this.keys)
				.addValues(this.args);
			return new Command<>(type, new NestedMultiOutput<>(ByteArrayCodec.INSTANCE), commandArgs);
		}

		private void forward(List<Object> result, Throwable failure) {
			if (failure != null) {
				this.reply.completeExceptionally(failure);
			}
			else {
				this.reply.complete(result);
			}
		}

	}

	/** An {@code EVALSHA} whose call is sent again with the script's text on {@code NOSCRIPT}. */
	private static final class ScriptCommand extends AsyncCommand<byte[], byte[], List<Object>> {

		private final ScriptCall call;

		ScriptCommand(ScriptCall call) {
			super(call.commandOf(CommandType.EVALSHA, call.script.digest()));
			this.call = call;
		}

		/** @return whether Redis answered that it does not know the script (the call did nothing) */
		boolean scriptUnknown() {
			String error = getOutput().getError();
			return error != null && error.startsWith("NOSCRIPT");
		}

	}

}
