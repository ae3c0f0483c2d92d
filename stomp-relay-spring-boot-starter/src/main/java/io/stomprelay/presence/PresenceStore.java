package io.stomprelay.presence;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;

import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.stomprelay.relay.RelayChannels;
import io.stomprelay.session.LocalSession;

/**
 * The cluster's sessions in Redis. Every node process (an <i>instance</i>: the node id and a
 * start-up id, so a restarted node never mixes with its former self) writes only its own sessions;
 * every node reads everyone's. What Redis holds (names from {@link RelayChannels}):
 * <ul>
 * <li>per user, a hash: session id &rarr; record (instance, connected-at millis, the session's
 * subscriptions), written on CONNECT (by the admission script, which also enforces the cluster-wide
 * sessions-per-user limit atomically), on each SUBSCRIBE / UNSUBSCRIBE, and removed at the end;</li>
 * <li>per instance, a hash: session id &rarr; user name ({@code ""} when anonymous), to count
 * sessions per node and to clean up after an instance that died;</li>
 * <li>one sorted set of instances scored with their deadline in Redis server time: an instance
 * renews it every heartbeat and counts as alive until then. Readers ignore the records of
 * instances past their deadline; any node sweeps a dead instance's records away.</li>
 * </ul>
 * Every operation is asynchronous: nothing here blocks a thread on Redis. Each script touches one
 * key, so it runs on a Redis Cluster too. No {@code KEYS} or {@code SCAN}: reads cost in the size
 * of their answer (and the number of live instances).
 */
public class PresenceStore {

	/**
	 * Admits a session of a user unless the user's live sessions elsewhere already reach the limit;
	 * drops the records of dead instances found on the way. KEYS[1] the user's hash; ARGV session
	 * id, record, limit, then the dead instances.
	 */
	private static final String ADMIT = """
			local dead = {}
			for i = 4, #ARGV do dead[ARGV[i]] = true end
			local fields = redis.call('HGETALL', KEYS[1])
			local count = 0
			for i = 1, #fields, 2 do
			  if fields[i] ~= ARGV[1] then
			    local instance = string.match(fields[i + 1], '^[^\\n]*')
			    if dead[instance] then redis.call('HDEL', KEYS[1], fields[i]) else count = count + 1 end
			  end
			end
			if count >= tonumber(ARGV[3]) then return 0 end
			redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
			return 1
			""";

	/**
	 * Renews an instance's deadline and lists every instance with its deadline, in Redis server time.
	 * KEYS[1] the instances; ARGV the instance (empty: only list) and the TTL in millis. Returns the
	 * server time, whether the instance had lapsed (was missing or past its deadline), and the
	 * instances with their scores.
	 */
	private static final String HEARTBEAT = """
			local t = redis.call('TIME')
			local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
			local lapsed = 0
			if ARGV[1] ~= '' then
			  local previous = redis.call('ZSCORE', KEYS[1], ARGV[1])
			  if (not previous) or tonumber(previous) < now then lapsed = 1 end
			  redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[2])), ARGV[1])
			end
			return {string.format('%.0f', now), lapsed, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
			""";

	/** Removes an instance that is past its deadline, and only then. KEYS[1] the instances. */
	private static final String FORGET = """
			local t = redis.call('TIME')
			local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
			local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
			if deadline and tonumber(deadline) < now then return redis.call('ZREM', KEYS[1], ARGV[1]) end
			return 0
			""";

	private final RedisClusterAsyncCommands<String, String> redis;

	private final RelayChannels keys;

	private final String instance;

	private final long ttlMillis;

	/**
	 * @param redis commands on a connection of the presence's own
	 * @param instance this node process: {@code <node id>@<start-up id>}
	 * @param ttlMillis how long an instance counts as alive after a heartbeat
	 */
	public PresenceStore(RedisClusterAsyncCommands<String, String> redis, RelayChannels keys, String instance,
			long ttlMillis) {
		this.redis = redis;
		this.keys = keys;
		this.instance = instance;
		this.ttlMillis = ttlMillis;
	}

	/** @return this node process's instance name */
	public String instance() {
		return this.instance;
	}

	/** @return the node id part of an instance name */
	static String nodeOf(String instance) {
		int at = instance.lastIndexOf('@');
		return (at > 0) ? instance.substring(0, at) : instance;
	}

	/**
	 * Lists a new session. A user's session is admitted only while the user's live sessions on
	 * every node are fewer than {@code maxSessionsOfUser}, checked and written in one step.
	 * @param dead instances past their deadline, whose records do not count
	 * @return whether the session was admitted (anonymous sessions always are)
	 */
	public CompletableFuture<Boolean> admit(LocalSession session, int maxSessionsOfUser, Collection<String> dead) {
		if (session.user() == null) {
			return this.redis.hset(this.keys.presenceInstanceKey(this.instance), session.id(), "")
				.toCompletableFuture()
				.thenApply(added -> true);
		}
		List<String> args = new ArrayList<>(List.of(session.id(), record(session), Integer.toString(maxSessionsOfUser)));
		args.addAll(dead);
		CompletableFuture<Long> admitted = this.redis
			.<Long>eval(ADMIT, ScriptOutputType.INTEGER, new String[] { this.keys.presenceUserKey(session.user()) },
					args.toArray(String[]::new))
			.toCompletableFuture();
		return admitted.thenCompose(result -> (result == 1L)
				? this.redis.hset(this.keys.presenceInstanceKey(this.instance), session.id(), session.user())
					.toCompletableFuture()
					.thenApply(added -> true)
				: CompletableFuture.completedFuture(false));
	}

	/** Rewrites a listed user session's record (its subscriptions changed). */
	public CompletableFuture<Void> update(LocalSession session) {
		return this.redis.hset(this.keys.presenceUserKey(session.user()), session.id(), record(session))
			.toCompletableFuture()
			.thenApply(added -> null);
	}

	/** Removes an ended session. */
	public CompletableFuture<Void> remove(LocalSession session) {
		CompletableFuture<Long> fromInstance = this.redis
			.hdel(this.keys.presenceInstanceKey(this.instance), session.id())
			.toCompletableFuture();
		if (session.user() == null) {
			return fromInstance.thenApply(removed -> null);
		}
		return fromInstance
			.thenCombine(this.redis.hdel(this.keys.presenceUserKey(session.user()), session.id()).toCompletableFuture(),
					(a, b) -> null);
	}

	/**
	 * Renews this instance's deadline.
	 * @return the instances as they stand, and whether this one had lapsed (its records may have
	 * been swept: write them again)
	 */
	public CompletableFuture<Instances> heartbeat() {
		return instances(this.instance);
	}

	/** @return every instance and whether it is alive, in Redis server time */
	public CompletableFuture<Instances> instances() {
		return instances("");
	}

	@SuppressWarnings("unchecked")
	private CompletableFuture<Instances> instances(String renew) {
		return this.redis
			.<List<Object>>eval(HEARTBEAT, ScriptOutputType.MULTI, new String[] { this.keys.presenceInstancesKey() },
					renew, Long.toString(this.ttlMillis))
			.toCompletableFuture()
			.thenApply(reply -> {
				long now = Long.parseLong(reply.get(0).toString());
				boolean lapsed = ((Long) reply.get(1)) == 1L;
				List<Object> scored = (List<Object>) reply.get(2);
				Set<String> live = new LinkedHashSet<>();
				Set<String> dead = new LinkedHashSet<>();
				for (int i = 0; i + 1 < scored.size(); i += 2) {
					String name = scored.get(i).toString();
					long deadline = (long) Double.parseDouble(scored.get(i + 1).toString());
					(deadline >= now ? live : dead).add(name);
				}
				return new Instances(live, dead, lapsed);
			});
	}

	/**
	 * Removes a dead instance's sessions from their users' hashes, then the instance itself (unless
	 * it renewed its deadline meanwhile).
	 */
	public CompletableFuture<Void> sweep(String deadInstance) {
		return removeSessionsOf(deadInstance)
			.thenCompose(done -> this.redis
				.<Long>eval(FORGET, ScriptOutputType.INTEGER, new String[] { this.keys.presenceInstancesKey() },
						deadInstance)
				.toCompletableFuture())
			.thenApply(done -> null);
	}

	/** Removes an instance's sessions from their users' hashes, then the instance's own hash. */
	private CompletableFuture<Void> removeSessionsOf(String instance) {
		String instanceKey = this.keys.presenceInstanceKey(instance);
		return this.redis.hgetall(instanceKey).toCompletableFuture().thenCompose(sessions -> {
			List<CompletableFuture<?>> removals = new ArrayList<>();
			sessions.forEach((sessionId, user) -> {
				if (!user.isEmpty()) {
					removals.add(this.redis.hdel(this.keys.presenceUserKey(user), sessionId).toCompletableFuture());
				}
			});
			return CompletableFuture.allOf(removals.toArray(CompletableFuture[]::new))
				.thenCompose(done -> this.redis.del(instanceKey).toCompletableFuture())
				.thenApply(done -> null);
		});
	}

	/**
	 * Makes Redis hold exactly this instance's live sessions: drops what it lists that ended, writes
	 * every live one again (after Redis came back, perhaps empty, or after this instance lapsed).
	 * @param live this node's sessions whose CONNECT was admitted and that have not ended
	 */
	public CompletableFuture<Void> resync(Collection<LocalSession> live) {
		String instanceKey = this.keys.presenceInstanceKey(this.instance);
		Map<String, LocalSession> byId = live.stream()
			.collect(Collectors.toMap(LocalSession::id, session -> session, (a, b) -> a));
		return this.redis.hgetall(instanceKey).toCompletableFuture().thenCompose(listed -> {
			List<CompletableFuture<?>> writes = new ArrayList<>();
			listed.forEach((sessionId, user) -> {
				if (!byId.containsKey(sessionId)) {
					writes.add(this.redis.hdel(instanceKey, sessionId).toCompletableFuture());
					if (!user.isEmpty()) {
						writes.add(this.redis.hdel(this.keys.presenceUserKey(user), sessionId).toCompletableFuture());
					}
				}
			});
			Map<String, String> users = new HashMap<>();
			for (LocalSession session : live) {
				users.put(session.id(), (session.user() != null) ? session.user() : "");
				if (session.user() != null) {
					writes.add(update(session));
				}
			}
			if (!users.isEmpty()) {
				writes.add(this.redis.hset(instanceKey, users).toCompletableFuture());
			}
			return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new));
		});
	}

	/** Removes this instance and all its sessions at once (a graceful stop). */
	public CompletableFuture<Void> leave() {
		return removeSessionsOf(this.instance)
			.thenCompose(done -> this.redis.zrem(this.keys.presenceInstancesKey(), this.instance).toCompletableFuture())
			.thenApply(done -> null);
	}

	/** @return the user's sessions on live instances, oldest first */
	public CompletableFuture<List<ClusterSession>> sessionsOf(String user) {
		return instances().thenCombine(this.redis.hgetall(this.keys.presenceUserKey(user)).toCompletableFuture(),
				(instances, records) -> sessions(user, records, instances.live()));
	}

	/** @return every user's sessions on live instances, by user */
	public CompletableFuture<Map<String, List<ClusterSession>>> everyone() {
		return instances().thenCompose(instances -> {
			List<CompletableFuture<Map<String, String>>> perInstance = instances.live()
				.stream()
				.map(name -> this.redis.hgetall(this.keys.presenceInstanceKey(name)).toCompletableFuture())
				.toList();
			return CompletableFuture.allOf(perInstance.toArray(CompletableFuture[]::new)).thenCompose(done -> {
				Set<String> users = new LinkedHashSet<>();
				perInstance.forEach(sessions -> sessions.join().values().stream().filter(u -> !u.isEmpty()).forEach(users::add));
				Map<String, CompletableFuture<List<ClusterSession>>> reads = new HashMap<>();
				for (String user : users) {
					reads.put(user, this.redis.hgetall(this.keys.presenceUserKey(user))
						.toCompletableFuture()
						.thenApply(records -> sessions(user, records, instances.live())));
				}
				return CompletableFuture.allOf(reads.values().toArray(CompletableFuture[]::new))
					.thenApply(all -> reads.entrySet()
						.stream()
						.filter(entry -> !entry.getValue().join().isEmpty())
						.collect(Collectors.toMap(Map.Entry::getKey, entry -> entry.getValue().join())));
			});
		});
	}

	/** @return how many sessions (anonymous included) and which users each live instance has */
	public CompletableFuture<Map<String, Map<String, String>>> sessionsPerInstance() {
		return instances().thenCompose(instances -> {
			Map<String, CompletableFuture<Map<String, String>>> reads = new HashMap<>();
			instances.live()
				.forEach(name -> reads.put(name,
						this.redis.hgetall(this.keys.presenceInstanceKey(name)).toCompletableFuture()));
			return CompletableFuture.allOf(reads.values().toArray(CompletableFuture[]::new))
				.thenApply(done -> reads.entrySet()
					.stream()
					.collect(Collectors.toMap(Map.Entry::getKey, entry -> entry.getValue().join())));
		});
	}

	private static List<ClusterSession> sessions(String user, Map<String, String> records, Set<String> live) {
		List<ClusterSession> sessions = new ArrayList<>();
		records.forEach((sessionId, record) -> {
			ClusterSession session = parse(user, sessionId, record);
			if (session != null && live.contains(session.instance())) {
				sessions.add(session);
			}
		});
		sessions.sort((a, b) -> a.connectedAt().compareTo(b.connectedAt()));
		return sessions;
	}

	/** instance, connected-at millis, then one subscription destination per line. */
	private String record(LocalSession session) {
		StringBuilder record = new StringBuilder(this.instance).append('\n')
			.append(session.connectedAt().toEpochMilli());
		for (String destination : session.destinations()) {
			record.append('\n').append(destination);
		}
		return record.toString();
	}

	static ClusterSession parse(String user, String sessionId, String record) {
		String[] lines = record.split("\n", -1);
		if (lines.length < 2) {
			return null;
		}
		try {
			return new ClusterSession(sessionId, user, lines[0], nodeOf(lines[0]),
					Instant.ofEpochMilli(Long.parseLong(lines[1])), List.of(lines).subList(2, lines.length));
		}
		catch (NumberFormatException ex) {
			return null;
		}
	}

	/**
	 * The instances, as Redis sees them now.
	 * @param live the instances within their deadline
	 * @param dead the instances past it, not swept yet
	 * @param lapsed whether the instance that renewed had lapsed before
	 */
	public record Instances(Set<String> live, Set<String> dead, boolean lapsed) {
	}

}
