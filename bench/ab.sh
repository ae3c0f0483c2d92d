#!/usr/bin/env bash
# Two builds of the product side by side: the `user` (or WORKLOAD=topic) ladder of bench/run.sh,
# build A then build B, ROUNDS times in turn, each run on fresh nodes and a fresh Redis
# (bench/PROFILE.md item 26).
#
#   bash bench/ab.sh <jar A> <jar B>
#   ROUNDS=3 RATES=20000,40000,50000 OUT=/tmp/ab bash bench/ab.sh before.jar after.jar
#   WORKLOAD=topic RATES=20000,40000,60000,80000,100000,130000 bash bench/ab.sh before.jar after.jar
#   JVM_FLAGS_B="-Xms1g -Xmx4g -XX:+UseZGC" bash bench/ab.sh app.jar app.jar   # one jar, two JVM settings
#
# Each run starts one redis-server and two nodes of the given jar on free loopback ports (the
# JVM flags of bench/run.sh, or JVM_FLAGS_A / JVM_FLAGS_B for the nodes of each build), runs the
# load generator's WORKLOAD over RATES (default: the low steps that warm the JITs, then up to
# 60,000 deliveries/s; a failed step is retried once, then the ladder stops) and writes its steps
# to OUT/<A|B>-<round>.jsonl. At the end it prints, per step, each run's server CPU per delivery
# (both nodes and Redis) and p99: alternating runs in one sitting, so a change is read against
# this machine's drift, not against an older run. Stops only the processes it started, by pid.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
JAR_A=${1:?usage: bash bench/ab.sh <jar A> <jar B>}
JAR_B=${2:?usage: bash bench/ab.sh <jar A> <jar B>}
ROUNDS=${ROUNDS:-2}
RATES=${RATES:-2000,5000,10000,20000,30000,40000,50000,60000}
WORKLOAD=${WORKLOAD:-user}
OUT=${OUT:-$(mktemp -d /tmp/stomp-relay-ab.XXXXXX)}
LOG_DIR=$(mktemp -d /tmp/stomp-relay-ab-logs.XXXXXX)
SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)
# shellcheck source=lib/services.sh
source "$BENCH_DIR/lib/services.sh"
JVM_FLAGS_A=${JVM_FLAGS_A:-$JVM_FLAGS}
JVM_FLAGS_B=${JVM_FLAGS_B:-$JVM_FLAGS}
trap stop_all EXIT

require_jars "$JAR_A" "$JAR_B"
ensure_loadgen
mkdir -p "$OUT"

ladder() { # jar out.jsonl node-jvm-flags
  local rp pa pb pida pidb
  JVM_FLAGS=$3
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port); pb=$(free_port)
  launch_product node-a "$pa" "$1" "$rp" a; pida=$JAVA_PID
  launch_product node-b "$pb" "$1" "$rp" b; pidb=$JAVA_PID
  await_port node-a "$pa" && await_port node-b "$pb"
  ladder_command stomp-relay stomp "ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws" "http://127.0.0.1:$pa" \
    "$WORKLOAD" "$RATES" 8 "$2" --pids "a=$pida,b=$pidb,redis=$REDIS_PID"
  "${LADDER_COMMAND[@]}" >"$LOG_DIR/gen.out" 2>"$LOG_DIR/gen.err" ||
    echo "generator exited non-zero (see $LOG_DIR/gen.err)" >&2
  stop_all
}

for ((round = 1; round <= ROUNDS; round++)); do
  for build in A B; do
    jar=$JAR_A flags=$JVM_FLAGS_A
    [ "$build" = B ] && jar=$JAR_B flags=$JVM_FLAGS_B
    echo "round $round, build $build: $jar ($flags)" >&2
    ladder "$jar" "$OUT/$build-$round.jsonl" "$flags"
  done
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
runs = [f"{b}-{r}" for r in range(1, rounds + 1) for b in "AB"]
steps = {}
for run in runs:
    for line in open(f"{out}/{run}.jsonl"):
        row = json.loads(line)
        if row.get("phase") == "step":
            # the step's last attempt is the one that counts (a retry replaces a failed first try)
            steps.setdefault(row["offered_rate"], {})[run] = row
print(f"results in {out}; server CPU µs per delivery / p99 ms, '!' = step failed, '-' = not reached")
print("rate      " + "".join(f"{run:>16}" for run in runs))
for rate in sorted(steps):
    cells = []
    for run in runs:
        row = steps[rate].get(run)
        cells.append("-" if row is None else
                     f"{row['server_cpu_us_per_delivery']:.1f} / {row['p99_ms']:.0f}{'' if row['ok'] else '!'}")
    print(f"{rate:<10}" + "".join(f"{c:>16}" for c in cells))
PY
