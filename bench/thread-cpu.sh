#!/usr/bin/env bash
# Where a cross-node `user` delivery's (or a `topic` delivery's) CPU goes, thread by thread (bench/PROFILE.md items 8, 34).
#
#   bash bench/thread-cpu.sh            # 30,000 deliveries/s for 100 s, 15-second windows
#   RATE=20000 DURATION=60 WINDOW=10 JAR=path/to/stomp-relay.jar bash bench/thread-cpu.sh
#   HISTORY=1 RATE=20000 bash bench/thread-cpu.sh   # message history on (bench/run.sh's HISTORY_ARGS)
#   WORKLOAD=topic RATE=80000 bash bench/thread-cpu.sh  # topic fan-out: figures per delivery
#
# Starts one redis-server and two product nodes on free loopback ports (JVM flags as bench/run.sh),
# runs the load generator's `user` workload (or WORKLOAD's) at one offered rate for one long step, and every WINDOW
# seconds prints, per node and for Redis, each thread group's CPU (user + system, the system part
# apart) and context switches, divided by the messages published in the window (each message is
# one delivery on each node). Before that step, a short ladder at WARMUP_RATES (8 s each, default
# 2000,5000,10000,20000; empty to skip) warms the nodes' JITs as bench/run.sh's ladder does, so the
# windows measure warm nodes, not the first seconds of a cold one. Needs target/stomp-relay.jar
# (./mvnw package) and the load generator (built here if missing). Stops only the processes it
# started, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
JAR=${JAR:-$REPO_DIR/target/stomp-relay.jar}
RATE=${RATE:-30000}
DURATION=${DURATION:-100}
WINDOW=${WINDOW:-15}
WORKLOAD=${WORKLOAD:-user}
WARMUP_RATES=${WARMUP_RATES-2000,5000,10000,20000}
HISTORY=${HISTORY:-}
HISTORY_ARGS=${HISTORY_ARGS:-"--stomp-relay.history.destinations=/user/queue/** --stomp-relay.history.size=100 --stomp-relay.history.max-recovery=1000 --stomp-relay.history.ttl=10m"}
LOG_DIR=$(mktemp -d /tmp/stomp-relay-thread-cpu.XXXXXX)
SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)
# shellcheck source=lib/services.sh
source "$BENCH_DIR/lib/services.sh"
trap stop_all EXIT

require_jars "$JAR"
ensure_loadgen

rp=$(free_port); start_redis "$rp"
pa=$(free_port); pb=$(free_port)
node_args=(); gen_args=()
if [ -n "$HISTORY" ]; then
  read -r -a node_args <<<"$HISTORY_ARGS"
  gen_args=(--history)
fi
launch_product node-a "$pa" "$JAR" "$rp" a "${node_args[@]}"; pida=$JAVA_PID
launch_product node-b "$pb" "$JAR" "$rp" b "${node_args[@]}"; pidb=$JAVA_PID
await_port node-a "$pa" && await_port node-b "$pb"
ws="ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws"

if [ -n "$WARMUP_RATES" ]; then
  ladder_command stomp-relay stomp "$ws" "http://127.0.0.1:$pa" "$WORKLOAD" "$WARMUP_RATES" 8 "$LOG_DIR/warmup.jsonl" "${gen_args[@]}"
  "${LADDER_COMMAND[@]}" >"$LOG_DIR/warmup.out" 2>"$LOG_DIR/warmup.err" || true
  echo "warm-up ladder ($WARMUP_RATES):"
  grep -E '^\[' "$LOG_DIR/warmup.err" || true
fi
ladder_command stomp-relay stomp "$ws" "http://127.0.0.1:$pa" "$WORKLOAD" "$RATE" "$DURATION" "$LOG_DIR/results.jsonl" \
  --pids "a=$pida,b=$pidb,redis=$REDIS_PID" "${gen_args[@]}"
"${LADDER_COMMAND[@]}" >"$LOG_DIR/gen.out" 2>"$LOG_DIR/gen.err" &
gen=$!
STARTED_PIDS+=("$gen")
echo "node a = pid $pida, node b = pid $pidb, redis = pid $REDIS_PID; logs in $LOG_DIR"
# `user`: a message is one delivery on each node (a user's two sessions are on the two nodes), so
# the figures are per message; `topic`: a message is one delivery per session, so they are per
# delivery (the count below is deliveries, and "per message" in the output reads "per delivery")
if [ "$WORKLOAD" = topic ]; then
  messages=$((RATE * WINDOW)); what="deliveries"
else
  messages=$((RATE / 2 * WINDOW)); what="messages published"
fi
sleep 10
python3 "$BENCH_DIR/thread_cpu.py" snap "$LOG_DIR/t0.json" "$pida" "$pidb" "$REDIS_PID"
for ((k = 1, t = 10 + WINDOW; t <= DURATION; k++, t += WINDOW)); do
  sleep "$WINDOW"
  python3 "$BENCH_DIR/thread_cpu.py" snap "$LOG_DIR/t$k.json" "$pida" "$pidb" "$REDIS_PID"
  echo "--- $((t - WINDOW))-$t s after the generator started ($messages $what)"
  python3 "$BENCH_DIR/thread_cpu.py" diff "$LOG_DIR/t$((k - 1)).json" "$LOG_DIR/t$k.json" "$messages"
done
wait "$gen" || true
grep -E '^\[' "$LOG_DIR/gen.err" || true
