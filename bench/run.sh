#!/usr/bin/env bash
# One command for the whole benchmark: bash bench/run.sh
#
# Builds what it needs (load generator, RabbitMQ-relay peer, a copy of the product), installs
# missing Debian packages and npm deps, runs every system with the same workloads and client
# counts, the idle-connection memory test and redis-benchmark, then writes docs/BENCHMARKS.md
# and docs/bench-latency.png. Everything listens on 127.0.0.1 only, on free ports; every
# process it starts is stopped by pid when it ends. Budget: ~20 minutes on 2 cores, ~2.5 more for scale,
# and (not yet timed in a full run) roughly 4-6 more for cluster and 3-5 more for stomp-relay-history.
#
# Knobs (environment):
#   SYSTEMS   comma list, default stomp-relay,stomp-relay-history,stomp-relay-norelay,rabbit-relay,socketio,
#             redis-benchmark,memory,scale,cluster
#             (stomp-relay-history = the stomp-relay system with message history on for the user destination:
#             the user workload, Redis memory per stored message, then the recovery storm;
#             scale = 2, 3 and 4 product nodes, Redis inbound traffic per node; cluster = the two nodes
#             on a 3-master Redis Cluster with sharded pub/sub, and each shard's share of the commands)
#   RATES     offered deliveries/s steps, default 2000,5000,10000,20000,30000,40000,50000,60000,80000,100000,130000,160000,200000,250000,320000,400000
#   STEP_SECONDS (8)  USERS (200)  PAYLOAD (100)  MEM_STAGES (10000,19500)
#   DEFLATE=1 offers permessage-deflate from the client (off by default)
#   PROFILE=0 skips the extra step at the product's user peak with a JFR recording of node A
#   scale: SCALE_NODES (2,3,4)  SCALE_USER_RATE (2000 messages/s)  SCALE_TOPIC_RATE (20 messages/s)
#          SCALE_SECONDS (8)  SCALE_JVM_FLAGS (-Xms256m -Xmx1g -XX:+UseG1GC)
#   cluster: CLUSTER_USERS (200, whatever USERS is: enough users for the per-shard share check)
#   history: HISTORY_ARGS (the product's history options, see below)  STORM_MISSED (50 messages per user
#            while cut off)  STORM_LIVE (5 more per user pushed during the reconnect)  STORM_TIMEOUT (60 s)
#   NO_REPORT=1 skips writing docs/; SKIP_INSTALL=1 skips apt/npm
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
SYSTEMS=${SYSTEMS:-stomp-relay,stomp-relay-history,stomp-relay-norelay,rabbit-relay,socketio,redis-benchmark,memory,scale,cluster}
RATES=${RATES:-2000,5000,10000,20000,30000,40000,50000,60000,80000,100000,130000,160000,200000,250000,320000,400000}
STEP_SECONDS=${STEP_SECONDS:-8}
USERS=${USERS:-200}
PAYLOAD=${PAYLOAD:-100}
MEM_STAGES=${MEM_STAGES:-10000,19500}
DEFLATE=${DEFLATE:-0}
PROFILE=${PROFILE:-1}
SCALE_NODES=${SCALE_NODES:-2,3,4}
SCALE_USER_RATE=${SCALE_USER_RATE:-2000}
SCALE_TOPIC_RATE=${SCALE_TOPIC_RATE:-20}
SCALE_SECONDS=${SCALE_SECONDS:-8}
SCALE_JVM_FLAGS=${SCALE_JVM_FLAGS:-"-Xms256m -Xmx1g -XX:+UseG1GC"}
CLUSTER_USERS=${CLUSTER_USERS:-200}
# history of the generator's user destination only (the server's application.yml keeps the demo's chat
# destinations; those are replaced here); size 100 per user as docs/OPERATIONS.md advises for user
# destinations; max-recovery and ttl are the defaults, written out
HISTORY_ARGS=${HISTORY_ARGS:-"--stomp-relay.history.destinations=/user/queue/** --stomp-relay.history.size=100 --stomp-relay.history.max-recovery=1000 --stomp-relay.history.ttl=10m"}
STORM_MISSED=${STORM_MISSED:-50}
STORM_LIVE=${STORM_LIVE:-5}
STORM_TIMEOUT=${STORM_TIMEOUT:-60}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR="$BENCH_DIR/results/$RUN_ID"
LOG_DIR="$RESULTS_DIR/logs"
WORK_DIR=$(mktemp -d /tmp/stomp-relay-bench.XXXXXX)
RESULTS="$RESULTS_DIR/results.jsonl"
COMMANDS="$RESULTS_DIR/commands.txt"
SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 48)
MEM_JVM_FLAGS=${MEM_JVM_FLAGS:-"-Xms1g -Xmx8g -XX:+UseG1GC"}
mkdir -p "$LOG_DIR"

# shellcheck source=lib/services.sh
source "$BENCH_DIR/lib/services.sh"
cleanup() {
  stop_all
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
say() { printf '[bench %4ds] %s\n' $(($(date +%s) - T0)) "$*" >&2; }
has() { [[ ",$SYSTEMS," == *",$1,"* ]]; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ------------------------------------------------------------------ prerequisites
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  for pkg in redis-server redis-tools rabbitmq-server python3-matplotlib; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -q >"$LOG_DIR/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1
  fi
  if [ ! -d "$BENCH_DIR/socketio/node_modules" ]; then
    say "npm ci (socket.io peer)"
    (cd "$BENCH_DIR/socketio" && npm ci --no-audit --no-fund >"$LOG_DIR/npm.log" 2>&1)
  fi
fi

say "building the load generator and the RabbitMQ-relay peer"
(cd "$BENCH_DIR/loadgen" && mvn -q -B -DskipTests package >"$LOG_DIR/build-loadgen.log" 2>&1)
if has rabbit-relay; then
  (cd "$BENCH_DIR/rabbit-relay" && mvn -q -B -DskipTests package >"$LOG_DIR/build-rabbit-relay.log" 2>&1)
fi
LOADGEN="$BENCH_DIR/loadgen/target/loadgen.jar"

PRODUCT_JAR=""
PRODUCT_START_CLASS=""
if has stomp-relay || has stomp-relay-history || has stomp-relay-norelay || has memory || has scale || has cluster; then
  say "building the product from a copy of $REPO_DIR"
  mkdir -p "$WORK_DIR/product"
  tar -C "$REPO_DIR" --exclude=./target --exclude=node_modules --exclude=./bench --exclude=./.git \
    --exclude=./docs -cf - . | tar -C "$WORK_DIR/product" -xf -
  if (cd "$WORK_DIR/product" && ./mvnw -q -B -DskipTests package >"$LOG_DIR/build-product.log" 2>&1) &&
    [ -f "$WORK_DIR/product/target/stomp-relay.jar" ]; then
    PRODUCT_JAR="$WORK_DIR/product/target/stomp-relay.jar"
    PRODUCT_START_CLASS=$(unzip -p "$PRODUCT_JAR" META-INF/MANIFEST.MF 2>/dev/null | sed -n 's/^Start-Class: *//p' | tr -d '\r' || true)
  else
    say "PRODUCT BUILD FAILED (see $LOG_DIR/build-product.log); skipping its runs"
    echo '{"system":"stomp-relay","phase":"error","error":"product build failed"}' >>"$RESULTS"
  fi
fi

# ------------------------------------------------------------------ machine facts
python3 - "$RESULTS_DIR/meta.json" <<PY
import json, os, platform, subprocess, sys
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip() or subprocess.run(c, shell=True, capture_output=True, text=True).stderr.strip()
    except Exception as e: return str(e)
cpu = next((l.split(":",1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
json.dump({
  "run_id": "$RUN_ID", "nproc": os.cpu_count(), "cpu_model": cpu, "mem_gib": round(int(mem)/1024/1024, 1),
  "kernel": platform.release(), "java": sh("java -version 2>&1 | head -2 | tr '\n' ' '"),
  "node": sh("node --version"), "redis": sh("redis-server --version"),
  "rabbitmq": sh("dpkg-query -W -f='\${Version}' rabbitmq-server"), "erlang": sh("dpkg-query -W -f='\${Version}' erlang-base"),
  "socketio": sh("node -p \"require('$BENCH_DIR/socketio/node_modules/socket.io/package.json').version\""),
  "redis_adapter": sh("node -p \"require('$BENCH_DIR/socketio/node_modules/@socket.io/redis-adapter/package.json').version\""),
  "jvm_flags": "$JVM_FLAGS", "generator_jvm_flags": "$GEN_FLAGS", "rates": "$RATES", "step_seconds": $STEP_SECONDS,
  "scale_nodes": "$SCALE_NODES", "scale_user_rate": $SCALE_USER_RATE, "scale_topic_rate": $SCALE_TOPIC_RATE,
  "scale_seconds": $SCALE_SECONDS, "scale_jvm_flags": "$SCALE_JVM_FLAGS", "cluster_users": $CLUSTER_USERS,
  "history_args": "$HISTORY_ARGS", "storm_missed": $STORM_MISSED, "storm_live": $STORM_LIVE, "storm_timeout": $STORM_TIMEOUT,
  "product_start_class": "$PRODUCT_START_CLASS", "users": $USERS, "payload": $PAYLOAD, "deflate": "$DEFLATE" == "1", "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
}, open(sys.argv[1], "w"), indent=1)
PY

# ------------------------------------------------------------------ one system
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

run_generator() { # system protocol ws-list publish-url pids [extra...]
  local system=$1 protocol=$2 ws=$3 publish=$4 pids=$5; shift 5
  say "$system: load average $(loadavg); generator starting"
  echo "{\"system\":\"$system\",\"phase\":\"env\",\"loadavg\":\"$(loadavg)\"}" >>"$RESULTS"
  local deflate=()
  [ "$DEFLATE" = 1 ] && deflate=(--deflate)
  ladder_command "$system" "$protocol" "$ws" "$publish" user,topic "$RATES" "$STEP_SECONDS" "$RESULTS" \
    --pids "$pids" "${deflate[@]}" "$@"
  record "${LADDER_COMMAND[@]}" >"$LOG_DIR/gen-$system.out" 2>"$LOG_DIR/gen-$system.err" ||
    say "$system: generator exited non-zero (see $LOG_DIR/gen-$system.err)"
  grep -E '^\[' "$LOG_DIR/gen-$system.err" | sed 's/^/    /' >&2 || true
  # a server that died under load makes every later step of its system measure what was left: say so
  local entry
  for entry in ${pids//,/ }; do
    if ! kill -0 "${entry#*=}" 2>/dev/null; then
      say "$system: ${entry%%=*} (pid ${entry#*=}) exited during the run; its log is in $LOG_DIR"
      echo "{\"system\":\"$system\",\"phase\":\"exited\",\"process\":\"${entry%%=*}\",\"pid\":${entry#*=}}" >>"$RESULTS"
    fi
  done
}

bench_stomp_relay() {
  local rp pa pb pida pidb
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port); pb=$(free_port)
  launch_product sr-a "$pa" "$PRODUCT_JAR" "$rp" a; pida=$JAVA_PID
  launch_product sr-b "$pb" "$PRODUCT_JAR" "$rp" b; pidb=$JAVA_PID
  if await_port sr-a "$pa" && await_port sr-b "$pb"; then
    local profile=()
    [ "$PROFILE" = 1 ] && profile=(--profile-pid "$pida" --profile-out "$RESULTS_DIR/node-a-peak.jfr")
    run_generator stomp-relay stomp "ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws" "http://127.0.0.1:$pa" \
      "a=$pida,b=$pidb,redis=$REDIS_PID" "${profile[@]}"
  fi
  stop_all
  if [ -f "$RESULTS_DIR/node-a-peak.jfr" ]; then
    local rate
    rate=$(python3 -c "import json,sys; print(max([json.loads(l).get('offered_rate',0) for l in open(sys.argv[1]) if '\"profile-step\"' in l] or [0]))" "$RESULTS")
    note_cmd python3 bench/profile_summary.py "$RESULTS_DIR/node-a-peak.jfr" stomp-relay user "$rate"
    python3 "$BENCH_DIR/profile_summary.py" "$RESULTS_DIR/node-a-peak.jfr" stomp-relay user "$rate" >>"$RESULTS" ||
      say "profile summary failed"
  fi
}

bench_stomp_relay_norelay() {
  local rp pa pida
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port)
  launch_product sr-norelay "$pa" "$PRODUCT_JAR" "$rp" a --stomp-relay.relay.enabled=false
  pida=$JAVA_PID
  if await_port sr-norelay "$pa"; then
    run_generator stomp-relay-1node-norelay stomp "ws://127.0.0.1:$pa/ws" "http://127.0.0.1:$pa" "a=$pida"
  fi
  stop_all
}

# stomp-relay-history: the stomp-relay system (2 nodes, 1 Redis, same user workload and steps) with message
# history on for the destination the generator subscribes to (HISTORY_ARGS). After the user workload: the
# history keys' Redis memory per stored message (phase "history-memory"); then the recovery storm
# (loadgen storm, phase "recovery-storm") against the same nodes.
redis_used_memory() { # port -> used_memory in bytes
  redis-cli -p "$1" info memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p'
}

history_memory() { # port used_memory-before -> one JSON line: the history keys, their entries and memory
  # <prefix>:history:{..}.. (streams of the messages) and <prefix>:history-meta:{..}.. (a hash per stream)
  note_cmd "redis-cli -p $1 --scan --pattern '*:history*'  # then TYPE, XLEN|LLEN|ZCARD and MEMORY USAGE <key> SAMPLES 0 of each; INFO memory"
  python3 - "$1" "$2" "$(redis_used_memory "$1")" <<'PY'
import json, subprocess, sys
port, before, after = sys.argv[1], int(sys.argv[2] or 0), int(sys.argv[3] or 0)
def batch(lines):  # one redis-cli for many commands; piped, it prints one raw reply per line
    if not lines:
        return []
    return subprocess.run(["redis-cli", "-p", port], input="\n".join(lines) + "\n",
                          capture_output=True, text=True).stdout.splitlines()
keys = sorted({k for k in subprocess.run(["redis-cli", "-p", port, "--scan", "--pattern", "*:history*"],
                                        capture_output=True, text=True).stdout.splitlines() if k})
length = {"stream": "XLEN", "list": "LLEN", "zset": "ZCARD", "hash": "HLEN", "set": "SCARD"}
types = batch([f"TYPE {k}" for k in keys])
usage = batch([f"MEMORY USAGE {k} SAMPLES 0" for k in keys])
lens = batch([f"{length[t]} {k}" if t in length else "PING" for k, t in zip(keys, types)])
by_type, entries, total = {}, 0, 0
for k, t, u, n in zip(keys, types, usage, lens):
    u = int(u) if u.isdigit() else 0
    d = by_type.setdefault(t, {"keys": 0, "entries": 0, "memory_usage_bytes": 0, "example": k})
    d["keys"] += 1
    d["memory_usage_bytes"] += u
    total += u
    if t in ("stream", "list", "zset") and n.isdigit():  # the stored messages; hashes and strings are bookkeeping
        d["entries"] += int(n)
        entries += int(n)
print(json.dumps({"system": "stomp-relay-history", "phase": "history-memory", "keys": len(keys), "entries": entries,
                  "memory_usage_bytes": total, "bytes_per_entry": round(total / entries, 1) if entries else None,
                  "used_memory_before": before, "used_memory_after": after,
                  "used_memory_delta_per_entry": round((after - before) / entries, 1) if entries else None,
                  "by_type": by_type}))
PY
}

bench_stomp_relay_history() {
  local rp pa pb pida pidb mem0 ws pids hargs=()
  read -r -a hargs <<<"$HISTORY_ARGS" # split on spaces, no globbing of /user/queue/**
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port); pb=$(free_port)
  launch_product srh-a "$pa" "$PRODUCT_JAR" "$rp" a "${hargs[@]}"; pida=$JAVA_PID
  launch_product srh-b "$pb" "$PRODUCT_JAR" "$rp" b "${hargs[@]}"; pidb=$JAVA_PID
  if await_port srh-a "$pa" && await_port srh-b "$pb"; then
    ws="ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws"
    pids="a=$pida,b=$pidb,redis=$REDIS_PID"
    mem0=$(redis_used_memory "$rp")
    run_generator stomp-relay-history stomp "$ws" "http://127.0.0.1:$pa" "$pids" --workloads user --history
    history_memory "$rp" "$mem0" >>"$RESULTS" || say "stomp-relay-history: history memory count failed"
    say "stomp-relay-history: $(tail -1 "$RESULTS" | cut -c1-240)"
    say "stomp-relay-history: recovery storm, $USERS users x 2 sessions, $STORM_MISSED missed + $STORM_LIVE live per user"
    record timeout 600 java $GEN_FLAGS -jar "$LOADGEN" storm --system stomp-relay-history --ws "$ws" \
      --publish "http://127.0.0.1:$pa" --secret "$SECRET" --users "$USERS" --sessions-per-user 2 \
      --missed "$STORM_MISSED" --live "$STORM_LIVE" --payload "$PAYLOAD" --timeout "$STORM_TIMEOUT" \
      --pids "$pids" --out "$RESULTS" >"$LOG_DIR/gen-storm.out" 2>"$LOG_DIR/gen-storm.err" ||
      say "stomp-relay-history: storm exited non-zero (see $LOG_DIR/gen-storm.err)"
    grep -E '^\[' "$LOG_DIR/gen-storm.err" | sed 's/^/    /' >&2 || true
  fi
  stop_all
}

bench_rabbit_relay() {
  local pa pb pida pidb jar="$BENCH_DIR/rabbit-relay/target/rabbit-relay.jar"
  if ! start_rabbit; then
    say "rabbitmq did not start (see $LOG_DIR/rabbitmq.out)"; stop_all; return
  fi
  pa=$(free_port); pb=$(free_port)
  launch_java rr-a "$pa" "$jar" --bench.rabbit.stomp-port="$RMQ_STOMP_PORT" --bench.jwt.secret="$SECRET"
  pida=$JAVA_PID
  launch_java rr-b "$pb" "$jar" --bench.rabbit.stomp-port="$RMQ_STOMP_PORT" --bench.jwt.secret="$SECRET"
  pidb=$JAVA_PID
  if await_port rr-a "$pa" && await_port rr-b "$pb"; then
    # settle: the user registry is broadcast every 10 s; warm-up also repeats until nothing is lost
    run_generator rabbit-relay stomp "ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws" "http://127.0.0.1:$pa" \
      "a=$pida,b=$pidb,rabbitmq=$RMQ_PID" --settle 12
  fi
  stop_all
}

bench_socketio() {
  local rp pa pb pida pidb q="/socket.io/?EIO=4&transport=websocket"
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port); pb=$(free_port)
  [ "$DEFLATE" = 1 ] && export PERMESSAGE_DEFLATE=1
  start_node_sio sio-a "$pa" "$rp"; pida=$NODE_PID
  start_node_sio sio-b "$pb" "$rp"; pidb=$NODE_PID
  run_generator socketio socketio "ws://127.0.0.1:$pa$q,ws://127.0.0.1:$pb$q" "http://127.0.0.1:$pa" \
    "a=$pida,b=$pidb,redis=$REDIS_PID"
  stop_all
}

bench_redis_benchmark() {
  local rp sub1 sub2 payload
  rp=$(free_port); start_redis "$rp"
  payload=$(head -c "$PAYLOAD" /dev/zero | tr '\0' x)
  say "redis-benchmark PUBLISH on port $rp"
  for subs in 0 2; do
    if [ "$subs" = 2 ]; then # two subscribers, like two relay nodes
      note_cmd "redis-cli -p $rp SUBSCRIBE ch >/dev/null &  # twice"
      redis-cli -p "$rp" SUBSCRIBE ch >/dev/null & sub1=$!; STARTED_PIDS+=("$sub1")
      redis-cli -p "$rp" SUBSCRIBE ch >/dev/null & sub2=$!; STARTED_PIDS+=("$sub2")
      sleep 0.5
    fi
    for pipeline in 1 16; do
      local out
      out=$(record redis-benchmark -h 127.0.0.1 -p "$rp" -n 200000 -c 50 -P "$pipeline" --csv PUBLISH ch "$payload" | tail -1)
      echo "$out" | python3 -c "
import csv, json, sys
row = next(csv.reader(sys.stdin))
print(json.dumps({'system': 'redis-benchmark', 'phase': 'redis-benchmark', 'command': 'PUBLISH', 'subscribers': $subs,
  'clients': 50, 'pipeline': $pipeline, 'requests': 200000, 'payload_bytes': $PAYLOAD,
  'rps': float(row[1]), 'avg_ms': float(row[2]), 'p50_ms': float(row[4]), 'p99_ms': float(row[6]), 'max_ms': float(row[7])}))
" >>"$RESULTS"
      say "  subscribers=$subs pipeline=$pipeline: $(echo "$out" | cut -d, -f2) PUBLISH/s"
    done
  done
  stop_all
}

bench_memory() { # [label stages extra-product-args...]
  local label=${1:-stomp-relay} stages=${2:-$MEM_STAGES} rp pa pida ips
  shift 2 || true
  rp=$(free_port); start_redis "$rp"
  pa=$(free_port)
  local saved_flags=$JVM_FLAGS
  JVM_FLAGS=$MEM_JVM_FLAGS
  launch_product sr-memory "$pa" "$PRODUCT_JAR" "$rp" a \
    --server.tomcat.max-connections=40000 --server.tomcat.accept-count=2000 "$@"
  pida=$JAVA_PID
  JVM_FLAGS=$saved_flags
  if await_port sr-memory "$pa"; then
    sleep 5
    ips=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 # several source IPs: no ephemeral-port exhaustion
    say "memory ($label): idle sessions $stages on one node (nofile limit $(ulimit -n))"
    record java $GEN_FLAGS -jar "$LOADGEN" idle --system "$label" --ws "ws://127.0.0.1:$pa/ws" \
      --secret "$SECRET" --server-pid "$pida" --stages "$stages" --source-ips "$ips" \
      --jvm-flags "$MEM_JVM_FLAGS $*" --out "$RESULTS" >>"$LOG_DIR/gen-memory.out" 2>>"$LOG_DIR/gen-memory.err" ||
      say "memory: generator exited non-zero (see $LOG_DIR/gen-memory.err)"
    grep -E '^\[' "$LOG_DIR/gen-memory.err" | sed 's/^/    /' >&2 || true
  fi
  stop_all
}

# One Redis; for each N in SCALE_NODES (ascending) the cluster is grown to N product nodes (the
# first ones started together, then one more per round: JVM start-up is the main cost, and every
# round runs on exactly N nodes); user u's one session on node u mod N, the publisher on node 0;
# per node: Redis inbound messages (stomp_relay_inbound_total) against its share of the sessions.
bench_scale() {
  local t0 n i rp ws pids ok up=0 ports=() saved_flags=$JVM_FLAGS
  t0=$(date +%s)
  JVM_FLAGS=$SCALE_JVM_FLAGS
  rp=$(free_port); start_redis "$rp"
  pids="redis=$REDIS_PID"
  for n in ${SCALE_NODES//,/ }; do
    ok=1
    for ((i = up; i < n; i++)); do # started at once, then awaited
      ports[i]=$(free_port)
      launch_product "scale-n$i" "${ports[i]}" "$PRODUCT_JAR" "$rp" "n$i"
      pids+=",n$i=$JAVA_PID"
    done
    for ((i = up; i < n; i++)); do await_port "scale-n$i" "${ports[i]}" || ok=0; done
    up=$n
    if [ "$ok" != 1 ]; then
      echo "{\"system\":\"stomp-relay-scale\",\"phase\":\"error\",\"error\":\"not all of $n nodes started\"}" >>"$RESULTS"
      break
    fi
    ws=""
    for ((i = 0; i < n; i++)); do ws+="${ws:+,}ws://127.0.0.1:${ports[i]}/ws"; done
    say "scale: $n nodes up ($(($(date +%s) - t0)) s into the scale part), load average $(loadavg)"
    record java $GEN_FLAGS -jar "$LOADGEN" scale --system stomp-relay-scale --ws "$ws" --publisher 0 \
      --secret "$SECRET" --users "$USERS" --workloads user,topic --user-rate "$SCALE_USER_RATE" \
      --topic-rate "$SCALE_TOPIC_RATE" --seconds "$SCALE_SECONDS" --payload "$PAYLOAD" \
      --redis "127.0.0.1:$rp" --pids "$pids" --out "$RESULTS" \
      >"$LOG_DIR/gen-scale$n.out" 2>"$LOG_DIR/gen-scale$n.err" ||
      say "scale: generator exited non-zero for N=$n (see $LOG_DIR/gen-scale$n.err)"
    grep -E '^\[' "$LOG_DIR/gen-scale$n.err" | sed 's/^/    /' >&2 || true
  done
  stop_all
  JVM_FLAGS=$saved_flags
  echo "{\"system\":\"stomp-relay-scale\",\"phase\":\"scale-duration\",\"nodes\":\"$SCALE_NODES\",\"seconds\":$(($(date +%s) - t0)),\"loadavg\":\"$(loadavg)\"}" >>"$RESULTS"
  say "scale: done in $(($(date +%s) - t0)) s"
}

# cluster: the stomp-relay system's two nodes and workloads on a Redis Cluster of three masters (no
# replicas), through --spring.data.redis.cluster.nodes: the relay uses SPUBLISH / SSUBSCRIBE, each
# channel on the master that owns its slot. The user and topic workloads run one after the other;
# after each, every master's calls of SPUBLISH, SSUBSCRIBE and PUBLISH since the previous snapshot
# (INFO commandstats) go to the results as phase "shard-share".
cluster_commands() { # port -> "spublish ssubscribe publish" calls so far
  local stats
  stats=$(redis-cli -p "$1" info commandstats | tr -d '\r')
  for c in spublish ssubscribe publish; do
    sed -n "s/^cmdstat_$c:calls=\([0-9]*\),.*/\1/p" <<<"$stats" | grep . || echo 0
  done | tr '\n' ' '
}

bench_cluster() {
  local i p bus dir ok=0 nodes="" pids="" pa pb pida pidb workload ports=() before=() after slots
  for i in 0 1 2; do
    p=$(free_port); ports[i]=$p; dir="$WORK_DIR/cluster-$p"; mkdir -p "$dir"
    bus=$(free_port) # the cluster bus on a free port of its own, not on p + 10000, which nothing reserved
    note_cmd redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-port "$bus" \
      --cluster-config-file nodes.conf --dir "$dir" --save "''" --appendonly no
    redis-server --port "$p" --bind 127.0.0.1 --cluster-enabled yes --cluster-port "$bus" \
      --cluster-config-file nodes.conf --dir "$dir" --save '' --appendonly no --daemonize no \
      --logfile "$LOG_DIR/redis-cluster-$p.log" &
    STARTED_PIDS+=("$!"); pids+="${pids:+,}shard$i=$!"
    wait_port 127.0.0.1 "$p" 20
    nodes+="${nodes:+,}127.0.0.1:$p"
  done
  record redis-cli --cluster create "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
    --cluster-replicas 0 --cluster-yes >"$LOG_DIR/redis-cluster-create.out" 2>&1
  for _ in $(seq 1 100); do
    ok=1
    for p in "${ports[@]}"; do redis-cli -p "$p" cluster info | grep -q cluster_state:ok || ok=0; done
    [ "$ok" = 1 ] && break
    sleep 0.2
  done
  pa=$(free_port); pb=$(free_port)
  launch_product cl-a "$pa" "$PRODUCT_JAR" "$nodes" a; pida=$JAVA_PID
  launch_product cl-b "$pb" "$PRODUCT_JAR" "$nodes" b; pidb=$JAVA_PID
  if [ "$ok" = 1 ] && await_port cl-a "$pa" && await_port cl-b "$pb"; then
    for i in 0 1 2; do before[i]=$(cluster_commands "${ports[i]}"); done
    for workload in user topic; do
      # CLUSTER_USERS (200) users whatever USERS is: with few users the split over the shards is lumpy
      run_generator stomp-relay-cluster stomp "ws://127.0.0.1:$pa/ws,ws://127.0.0.1:$pb/ws" "http://127.0.0.1:$pa" \
        "a=$pida,b=$pidb,$pids" --workloads "$workload" --users "$CLUSTER_USERS"
      for i in 0 1 2; do
        after=$(cluster_commands "${ports[i]}")
        # the hash slots this master owns ("myself" line of CLUSTER NODES: fields 9.. are slot ranges)
        slots=$(redis-cli -p "${ports[i]}" cluster nodes | tr -d '\r' | awk '/myself/ {for (f = 9; f <= NF; f++) printf "%s ", $f}')
        python3 - "$workload" "$i" "${before[i]}" "$after" "$slots" "$CLUSTER_USERS" >>"$RESULTS" <<'PY'
import json, sys
workload, shard, before, after = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
d = [int(a) - int(b) for a, b in zip(after, before)]
print(json.dumps({"system": "stomp-relay-cluster", "phase": "shard-share", "workload": workload, "shard": shard,
                  "spublish": d[0], "ssubscribe": d[1], "publish": d[2], "slots": sys.argv[5].split(),
                  "users": int(sys.argv[6])}))
PY
        before[i]=$after
      done
    done
  else
    echo '{"system":"stomp-relay-cluster","phase":"error","error":"the cluster or its nodes did not start"}' >>"$RESULTS"
  fi
  stop_all
}

# ------------------------------------------------------------------ run
if [ -n "$PRODUCT_JAR" ]; then
  has stomp-relay && bench_stomp_relay
  has stomp-relay-history && bench_stomp_relay_history
  has stomp-relay-norelay && bench_stomp_relay_norelay
fi
has rabbit-relay && bench_rabbit_relay
has socketio && bench_socketio
has redis-benchmark && bench_redis_benchmark
if [ -n "$PRODUCT_JAR" ]; then
  if has memory; then bench_memory stomp-relay "$MEM_STAGES"; fi
  if has scale; then bench_scale; fi
  if has cluster; then bench_cluster; fi
fi

say "results: $RESULTS"
if [ "${NO_REPORT:-0}" != 1 ]; then
  # Debian's python3 (python3-matplotlib is installed for it), not a pyenv/venv one
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
  "$PY" "$BENCH_DIR/report.py" "$RESULTS_DIR" "$REPO_DIR/docs"
  say "wrote $REPO_DIR/docs/BENCHMARKS.md and $REPO_DIR/docs/bench-latency.png"
fi
say "done in $(($(date +%s) - T0)) s"
