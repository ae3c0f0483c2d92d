#!/usr/bin/env bash
# Soak and chaos (issue 18): bash bench/soak.sh            (one standalone Redis: docs/SOAK.md)
#                             REDIS_MODE=cluster bash bench/soak.sh  (a Redis Cluster: docs/SOAK-cluster.md)
#
# One redis-server and 3 product nodes (separate JVMs, target/stomp-relay.jar), a few hundred STOMP
# sessions from the soak client (bench/loadgen, io.stomprelay.bench.Soak) spread over the nodes and
# reconnecting with exponential backoff, mixed traffic at a steady rate, and faults on a seeded
# random schedule: Redis killed and restarted, Redis paused (SIGSTOP/SIGCONT), a node SIGKILLed and
# started again, a node stopped gracefully (SIGTERM) and started again, a client that stops
# reading, a client that floods frames, a burst of malformed frames, a token that expires
# mid-session. Every send and delivery is recorded and accounted for afterwards; writes
# docs/SOAK.md and docs/soak-resources.png. Exits non-zero when a check fails (an uncounted loss,
# a duplicate, a reorder, a wrong-user delivery, a crash, a fault not recovered, resources growing).
#
# REDIS_MODE=cluster: the same soak on a Redis Cluster of 3 masters with one replica each (6
# redis-server processes, --cluster-enabled yes, each with its own dir and nodes.conf under the run's
# results, --cluster-node-timeout CLUSTER_NODE_TIMEOUT, no persistence; formed with redis-cli --cluster
# create --cluster-replicas 1); the nodes get --spring.data.redis.cluster.nodes. Its Redis faults:
# redis-kill SIGKILLs a master drawn from the seed, waits for its replica's promotion, and starts the
# killed process again (same port and dir: it rejoins as a replica) 2-6 s after the failover;
# redis-pause SIGSTOPs a master for less than the node timeout (no failover), then SIGCONTs it. Writes
# docs/SOAK-cluster.md and docs/soak-cluster-resources.png; the history is dumped from the masters at
# the end to tell a stream position handed out twice from a lost message.
#
# Loopback only, free ports; every process it starts is stopped by its pid (never by name).
# Bounded: DURATION seconds of traffic plus start-up (~1 min), drain and analysis (~1 min).
#
# Knobs (environment):
#   REDIS_MODE       standalone (default: one redis-server) or cluster (see above)
#   CLUSTER_NODE_TIMEOUT  cluster-node-timeout of the cluster's nodes in ms (3000); REDIS_MODE=cluster only
#   REDIS_KILL_LAG   (0: off) cluster only, a diagnostic: before each redis-kill, SIGSTOP the master's replica and
#                    cut its link (CLIENT KILL TYPE replica) this many seconds (< the node timeout) before the
#                    SIGKILL, so the failover loses the master's last writes (asynchronous replication's worst case)
#   DURATION (1800)  SEED (18)  USERS (100, two sessions each)  ANON (40)
#   WARMUP (60) s before the first fault, QUIET_END (150) s without faults at the end
#   KINDS        comma list restricting the fault kinds (default: all eight)
#   NO_REPORT=1      analyse but do not write docs/ (short trial runs)
#   SKIP_BUILD=1     use the existing target/stomp-relay.jar and bench/loadgen/target/loadgen.jar
#   JVM_FLAGS        product node JVM flags (-Xms256m -Xmx512m -XX:+UseG1GC -XX:SoftRefLRUPolicyMSPerMB=0:
#                    a full GC then clears soft references, so the heap measured is what the node keeps, not
#                    caches that the JVM would drop under pressure anyway)
#   HISTORY          stomp-relay.history.destinations of the nodes (/user/queue/**,/topic/**; the accounting
#                    needs it on the six judged destinations: lost = counted is classed by stream position)
#   HISTORY_SIZE     stomp-relay.history.size and .max-recovery (1000), HISTORY_TTL (10m)
# Not part of ./mvnw verify. Raw results: bench/results/soak-<run>/ (git-ignored).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
DURATION=${DURATION:-1800}
SEED=${SEED:-18}
USERS=${USERS:-100}
ANON=${ANON:-40}
JVM_FLAGS=${JVM_FLAGS:-"-Xms256m -Xmx512m -XX:+UseG1GC -XX:SoftRefLRUPolicyMSPerMB=0"}
HISTORY=${HISTORY-"/user/queue/**,/topic/**"}
HISTORY_SIZE=${HISTORY_SIZE:-1000}
HISTORY_TTL=${HISTORY_TTL:-10m}
REDIS_MODE=${REDIS_MODE:-standalone}
CLUSTER_NODE_TIMEOUT=${CLUSTER_NODE_TIMEOUT:-3000}
REDIS_KILL_LAG=${REDIS_KILL_LAG:-0}
case "$REDIS_MODE" in
  standalone|cluster) ;;
  *) printf 'REDIS_MODE must be standalone or cluster, not %s\n' "$REDIS_MODE" >&2; exit 2 ;;
esac
RESULTS="$BENCH_DIR/results/soak"
mkdir -p "$RESULTS"
say() { printf '[soak.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TOOLS="java /usr/bin/redis-server jcmd python3"
[ "$REDIS_MODE" = cluster ] && TOOLS="$TOOLS redis-cli"
for tool in $TOOLS; do
  command -v "$tool" >/dev/null || { say "missing $tool"; exit 2; }
done
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import matplotlib' 2>/dev/null && [ "$(id -u)" = 0 ] && [ "${NO_REPORT:-0}" != 1 ]; then
  say "installing python3-matplotlib for the plot"
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib) \
    >"$RESULTS/apt.log" 2>&1 || say "could not install python3-matplotlib: the report will have no plot"
fi

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  say "building the product jar and the soak client"
  (cd "$REPO_DIR" && { ./mvnw -o -q -B -DskipTests package || ./mvnw -q -B -DskipTests package; }) \
    >"$RESULTS/build-product.log" 2>&1 || { say "product build failed: $RESULTS/build-product.log"; exit 2; }
  (cd "$BENCH_DIR/loadgen" && { mvn -o -q -B -DskipTests package || mvn -q -B -DskipTests package; }) \
    >"$RESULTS/build-loadgen.log" 2>&1 || { say "soak client build failed: $RESULTS/build-loadgen.log"; exit 2; }
fi

SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)
COMMAND="bash bench/soak.sh"
[ "$DURATION" != 1800 ] && COMMAND="DURATION=$DURATION $COMMAND"
[ "$SEED" != 18 ] && COMMAND="SEED=$SEED $COMMAND"
[ "$USERS" != 100 ] && COMMAND="USERS=$USERS $COMMAND"
[ "$ANON" != 40 ] && COMMAND="ANON=$ANON $COMMAND"
[ "$HISTORY" != "/user/queue/**,/topic/**" ] && COMMAND="HISTORY='$HISTORY' $COMMAND"
[ "$HISTORY_SIZE" != 1000 ] && COMMAND="HISTORY_SIZE=$HISTORY_SIZE $COMMAND"
[ "$HISTORY_TTL" != 10m ] && COMMAND="HISTORY_TTL=$HISTORY_TTL $COMMAND"
[ -n "${KINDS:-}" ] && [ "$KINDS" != all ] && COMMAND="KINDS=$KINDS $COMMAND"
[ "${QUIET_END:-150}" != 150 ] && COMMAND="QUIET_END=$QUIET_END $COMMAND"
[ "${WARMUP:-60}" != 60 ] && COMMAND="WARMUP=$WARMUP $COMMAND"
[ "$REDIS_MODE" = cluster ] && [ "$CLUSTER_NODE_TIMEOUT" != 3000 ] && COMMAND="CLUSTER_NODE_TIMEOUT=$CLUSTER_NODE_TIMEOUT $COMMAND"
[ "$REDIS_MODE" = cluster ] && [ "$REDIS_KILL_LAG" != 0 ] && COMMAND="REDIS_KILL_LAG=$REDIS_KILL_LAG $COMMAND"
[ "$REDIS_MODE" = cluster ] && COMMAND="REDIS_MODE=cluster $COMMAND"
DOCS="$REPO_DIR/docs"
[ "${NO_REPORT:-0}" = 1 ] && DOCS=-
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "soak ($REDIS_MODE Redis): ${DURATION}s, seed $SEED, $USERS users x 2 + $ANON anonymous sessions, history on '${HISTORY}'"
# The nodes run a copy of the jars: a build during the run (./mvnw rewrites target/stomp-relay.jar)
# would otherwise change the classes under running JVMs, which then fail on classes loaded late.
JARS=$(mktemp -d "$RESULTS/jars.XXXXXX")
cp "$REPO_DIR/target/stomp-relay.jar" "$BENCH_DIR/loadgen/target/loadgen.jar" "$JARS/"
exec "$PY" "$BENCH_DIR/soak.py" run --duration "$DURATION" --seed "$SEED" --users "$USERS" --anon "$ANON" \
  --jar "$JARS/stomp-relay.jar" --loadgen "$JARS/loadgen.jar" \
  --warmup "${WARMUP:-60}" --quiet-end "${QUIET_END:-150}" --kinds "${KINDS:-all}" \
  --results "$RESULTS" --docs "$DOCS" --secret "$SECRET" --jvm-flags "$JVM_FLAGS" --command "$COMMAND" \
  --history "$HISTORY" --history-size "$HISTORY_SIZE" --history-ttl "$HISTORY_TTL" \
  --redis-mode "$REDIS_MODE" --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT" --cluster-kill-lag "$REDIS_KILL_LAG"
