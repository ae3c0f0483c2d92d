package io.stomprelay.history;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import io.stomprelay.relay.LuaScript;
import io.stomprelay.relay.RedisBackedRelayBus;

/**
 * The message history in Redis: per destination that keeps it, a stream of its recent envelopes
 * and a small hash with the stream's epoch and last offset (key names from
 * {@link io.stomprelay.relay.RelayChannels}, both in the slot of the destination's relay channel).
 * <p><b>One atomic step per message.</b> {@link #append} runs one script that numbers the message
 * (the next offset of the stream's epoch, a new epoch when the stream has none), adds it to the
 * stream, trims the stream to about {@code size} entries, renews the expiry of both keys and
 * publishes the message on the relay channel as a positioned frame: {@code "SH"}, the position's
 * length (1 byte), the position ({@code <epoch>-<offset>}, ASCII), then the envelope. The stream and
 * the live messages therefore share one order, and every node sees each message with its position.
 * The script runs on the relay's publishing connection, so it keeps its place among that node's
 * plain publishes (see {@link RedisBackedRelayBus#evalOnPublisher} for the one exception, after
 * Redis lost its scripts). A retried append (Lettuce re-sends a command whose reply a dropped connection
 * lost) is recognised by its message id and not added twice.
 * <p><b>A new epoch after a failover.</b> The meta hash also keeps the replication id of the
 * master that numbered the stream's last message. Replication is asynchronous: a replica promoted
 * after its master died may lack the master's last appends, and would number the next messages
 * with offsets that nodes and clients already saw for other messages (and drop them as
 * duplicates). A promoted replica has a replication id of its own, so the first append it runs
 * starts a new epoch instead: positions from before the failover are no longer recovered, and none
 * is ever given to two messages.
 * <p>Stream entry ids are {@code 0-<offset>}, so a range of offsets is a range of ids. Reads go in
 * batches ({@code XRANGE ... COUNT}), never unbounded.
 */
public class HistoryStore {

	/**
	 * KEYS: stream, meta. ARGV: envelope, size, ttl millis, channel, message id, publish command.
	 * Returns the epoch, the offset, and 1 (0 for a retried append, not added again).
	 */
	private static final LuaScript APPEND = LuaScript.of("""
			local master = string.match(redis.call('INFO', 'replication'), 'master_replid:(%w+)')
			local epoch = redis.call('HGET', KEYS[2], 'e')
			if not epoch or redis.call('HGET', KEYS[2], 'r') ~= master then
			  local t = redis.call('TIME')
			  epoch = t[1] .. string.format('%06d', tonumber(t[2]))
			  redis.call('DEL', KEYS[1])
			  redis.call('HSET', KEYS[2], 'e', epoch, 'o', 0, 'r', master)
			elseif redis.call('HGET', KEYS[2], 'm') == ARGV[5] then
			  return {epoch, tonumber(redis.call('HGET', KEYS[2], 'o')), 0}
			end
			local offset = redis.call('HINCRBY', KEYS[2], 'o', 1)
			redis.call('HSET', KEYS[2], 'm', ARGV[5])
			redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '0-' .. offset, 'd', ARGV[1])
			redis.call('PEXPIRE', KEYS[1], ARGV[3])
			redis.call('PEXPIRE', KEYS[2], ARGV[3])
			local position = epoch .. '-' .. offset
			redis.call(ARGV[6], ARGV[4], 'SH' .. string.char(#position) .. position .. ARGV[1])
			return {epoch, offset, 1}
			""");

	/**
	 * KEYS: stream, meta. ARGV: the first offset wanted, the most entries. Returns nothing when the
	 * destination has no history, else its epoch, its last offset and the entries.
	 */
	private static final LuaScript READ = LuaScript.of("""
			local epoch = redis.call('HGET', KEYS[2], 'e')
			if not epoch then return {} end
			local last = tonumber(redis.call('HGET', KEYS[2], 'o'))
			return {epoch, last, redis.call('XRANGE', KEYS[1], '0-' .. ARGV[1], '+', 'COUNT', ARGV[2])}
			""");

	private final RedisBackedRelayBus bus;

	private final byte[] size;

	private final byte[] ttlMillis;

	/**
	 * @param bus runs the scripts on its publishing connection
	 * @param size entries kept per stream (about: trimmed in blocks)
	 * @param ttl how long a stream and its epoch outlive its last message
	 */
	public HistoryStore(RedisBackedRelayBus bus, int size, Duration ttl) {
		this.bus = bus;
		this.size = ascii(Integer.toString(size));
		this.ttlMillis = ascii(Long.toString(ttl.toMillis()));
	}

	/**
	 * Adds an envelope to its destination's history and publishes it, positioned, on its channel.
	 * @param envelope an encoded envelope (without sequence stamp)
	 * @return completes with the message's position
	 */
	public CompletableFuture<StreamPosition> append(HistoryStream stream, String channel, byte[] envelope,
			String messageId) {
		byte[][] keys = { ascii(stream.key()), ascii(stream.metaKey()) };
		return this.bus
			.evalOnPublisher(APPEND, keys, envelope, this.size, this.ttlMillis, ascii(channel), ascii(messageId),
					ascii(this.bus.publishCommand()))
			.thenApply(reply -> new StreamPosition(text(reply.get(0)), (Long) reply.get(1)));
	}

	/**
	 * @param from the first offset wanted
	 * @param count the most entries to return
	 * @return completes with the stream's epoch and last offset and up to {@code count} entries from
	 * {@code from} on, in order; {@link HistoryBatch#NONE} when the destination has no history
	 */
	public CompletableFuture<HistoryBatch> read(HistoryStream stream, long from, int count) {
		byte[][] keys = { ascii(stream.key()), ascii(stream.metaKey()) };
		return this.bus.evalOnPublisher(READ, keys, ascii(Long.toString(from)), ascii(Integer.toString(count)))
			.thenApply(HistoryStore::batch);
	}

	@SuppressWarnings("unchecked")
	private static HistoryBatch batch(List<Object> reply) {
		if (reply.isEmpty()) {
			return HistoryBatch.NONE;
		}
		String epoch = text(reply.get(0));
		List<Object> rows = (List<Object>) reply.get(2);
		List<HistoryBatch.Entry> entries = new ArrayList<>(rows.size());
		for (Object row : rows) {
			List<Object> entry = (List<Object>) row;
			String id = text(entry.get(0));
			List<Object> fields = (List<Object>) entry.get(1);
			entries.add(new HistoryBatch.Entry(Long.parseLong(id.substring(id.indexOf('-') + 1)), (byte[]) fields.get(1)));
		}
		return new HistoryBatch(epoch, (Long) reply.get(1), entries);
	}

	private static String text(Object bulk) {
		return new String((byte[]) bulk, StandardCharsets.US_ASCII);
	}

	private static byte[] ascii(String text) {
		return text.getBytes(StandardCharsets.UTF_8);
	}

}
