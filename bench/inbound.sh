#!/usr/bin/env bash
# What a client frame costs the node that reads it, for two builds side by side
# (bench/PROFILE.md item 31); with MODE=push, what a message sent through the HTTP push API costs
# (item 32).
#
#   bash bench/inbound.sh <jar A> <jar B>
#   ROUNDS=3 RATE=10000 SESSIONS=200 bash bench/inbound.sh before.jar after.jar
#   MODE=push THREADS=4 bash bench/inbound.sh before.jar after.jar
#
# Starts one redis-server on a free loopback port; for each round, build A then build B: one node of
# the jar (the JVM flags of bench/run.sh), SESSIONS authenticated sessions, each sending SEND frames
# to an /app destination no handler maps, RATE frames/s in total (within the default per-session
# rate limit: 10,000/s over 200 sessions is 50/s each), one frame per WebSocket message. After
# WARMUP seconds the node's CPU time is read over SECONDS and printed per frame. MODE=push instead
# posts back to back from THREADS clients (POST /api/messages/users/<user>, a user with no session,
# an admin token), 70 s of warm-up by default: the push path's code takes about that long to be
# compiled. Stops only the processes it started, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
JAR_A=${1:?usage: bash bench/inbound.sh <jar A> <jar B>}
JAR_B=${2:?usage: bash bench/inbound.sh <jar A> <jar B>}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-10000}
SESSIONS=${SESSIONS:-200}
SECONDS_MEASURED=${SECONDS_MEASURED:-20}
MODE=${MODE:-inbound}
THREADS=${THREADS:-4}
if [ "$MODE" = push ]; then WARMUP=${WARMUP:-70}; else WARMUP=${WARMUP:-15}; fi
LOG_DIR=$(mktemp -d /tmp/stomp-relay-inbound.XXXXXX)
SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)
# shellcheck source=lib/services.sh
source "$BENCH_DIR/lib/services.sh"
trap stop_all EXIT

require_jars "$JAR_A" "$JAR_B"
ensure_loadgen

rp=$(free_port); start_redis "$rp"
for ((round = 1; round <= ROUNDS; round++)); do
  for build in A B; do
    jar=$JAR_A; [ "$build" = B ] && jar=$JAR_B
    port=$(free_port)
    launch_product "node-$build-$round" "$port" "$jar" "$rp" a; pid=$JAVA_PID
    await_port "node-$build-$round" "$port"
    if [ "$MODE" = push ]; then
      args=(push --http "http://127.0.0.1:$port" --threads "$THREADS")
    else
      args=(inbound --ws "ws://127.0.0.1:$port/ws" --sessions "$SESSIONS" --rate "$RATE")
    fi
    line=$(java $GEN_FLAGS -jar "$LOADGEN" "${args[@]}" --secret "$SECRET" --server-pid "$pid" \
      --seconds "$SECONDS_MEASURED" --warmup "$WARMUP" 2>>"$LOG_DIR/gen.err") || line="failed (see $LOG_DIR/gen.err)"
    echo "round $round $build: $line"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
done
