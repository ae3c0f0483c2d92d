# Helpers sourced by bench/run.sh, bench/ab.sh and bench/thread-cpu.sh: the JVM flags, free ports, start/stop of the servers under test.
# Every process started here is recorded in STARTED_PIDS and stopped by pid only.

STARTED_PIDS=()

# JVM flags of the servers under test and of the load generator, unless the caller set them: one
# place for bench/run.sh and bench/thread-cpu.sh, so their figures compare.
JVM_FLAGS=${JVM_FLAGS:-"-Xms1g -Xmx4g -XX:+UseG1GC"}
# The generator stamps each message's receive time, so its own GC pauses show as server latency:
# with G1 it paused 79-181 ms under load on this machine, enough to set a step's p99. ZGC collects
# concurrently; the same for every system measured.
GEN_FLAGS=${GEN_FLAGS:-"-Xms2g -Xmx2g -XX:+UseZGC"}

note_cmd() { # appends a command line (secret masked) to $COMMANDS, if set
  [ -n "${COMMANDS:-}" ] && printf '%s\n' "$*" | sed "s/${SECRET:-__none__}/\$SECRET/g" >>"$COMMANDS"
  return 0
}

record() { # logs the exact command (secret masked) then runs it
  note_cmd "$@"
  "$@"
}

free_port() { # a free port below the ephemeral range (32768+), so client connections can't take it meanwhile
  python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
'
}

wait_port() { # host port timeout_s
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (echo >"/dev/tcp/$1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "port $1:$2 did not open within $3 s" >&2
  return 1
}

pid_on_port() { # port -> pid of the listener
  ss -ltnpH "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

stop_pid() { # pid [timeout_s]
  local pid=$1 t=${2:-15} i
  [ -z "$pid" ] && return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

stop_all() {
  local i
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${STARTED_PIDS[$i]}" 10
  done
  STARTED_PIDS=()
}

require_jars() { # jar... : stop the script unless every one exists
  local jar
  for jar in "$@"; do
    [ -f "$jar" ] || { echo "no $jar: run ./mvnw -DskipTests package first" >&2; exit 1; }
  done
}

ensure_loadgen() { # -> LOADGEN, the load generator's jar, built when missing (needs BENCH_DIR, LOG_DIR)
  LOADGEN="$BENCH_DIR/loadgen/target/loadgen.jar"
  [ -f "$LOADGEN" ] || (cd "$BENCH_DIR/loadgen" && mvn -q -B -DskipTests package >"$LOG_DIR/build-loadgen.log")
}

start_redis() { # port -> REDIS_PID
  if ! command -v redis-server >/dev/null; then
    echo "redis-server not found: apt-get install redis-server (bench/run.sh installs it)" >&2
    return 1
  fi
  note_cmd redis-server --port "$1" --bind 127.0.0.1 --save "''" --appendonly no
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --logfile "$LOG_DIR/redis-$1.log" &
  REDIS_PID=$!
  STARTED_PIDS+=("$REDIS_PID")
  wait_port 127.0.0.1 "$1" 20
}

# RabbitMQ with the STOMP plugin on free ports, all state under a temp dir. -> RMQ_PID, RMQ_STOMP_PORT
start_rabbit() {
  local dir="$WORK_DIR/rabbitmq"
  rm -rf "$dir" && mkdir -p "$dir/mnesia" "$dir/log"
  local amqp epmd dist
  amqp=$(free_port); epmd=$(free_port); dist=$(free_port); RMQ_STOMP_PORT=$(free_port)
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$amqp
stomp.listeners.tcp.1 = 127.0.0.1:$RMQ_STOMP_PORT
loopback_users.guest = true
log.console = false
log.file.level = warning
vm_memory_high_watermark.relative = 0.4
CONF
  echo '[rabbitmq_stomp].' >"$dir/enabled_plugins"
  # our own epmd in the foreground, so it can be stopped by pid
  epmd -port "$epmd" -address 127.0.0.1 &
  STARTED_PIDS+=("$!")
  sleep 0.5
  note_cmd "# RabbitMQ 'rabbitmq.conf': $(tr '\n' ';' <"$dir/rabbitmq.conf") enabled_plugins: [rabbitmq_stomp]."
  note_cmd env ERL_EPMD_PORT="$epmd" RABBITMQ_NODE_PORT="$amqp" RABBITMQ_CONFIG_FILE=.../rabbitmq.conf \
    RABBITMQ_ENABLED_PLUGINS_FILE=.../enabled_plugins /usr/lib/rabbitmq/bin/rabbitmq-server
  env HOME="$dir" ERL_EPMD_PORT="$epmd" RABBITMQ_NODENAME="bench$$@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp" RABBITMQ_DIST_PORT="$dist" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config" \
    /usr/lib/rabbitmq/bin/rabbitmq-server >"$LOG_DIR/rabbitmq.out" 2>&1 &
  local launcher=$!
  STARTED_PIDS+=("$launcher")
  wait_port 127.0.0.1 "$RMQ_STOMP_PORT" 90 || return 1
  RMQ_PID=$(pid_on_port "$RMQ_STOMP_PORT")
  [ -n "$RMQ_PID" ] && [ "$RMQ_PID" != "$launcher" ] && STARTED_PIDS+=("$RMQ_PID")
  return 0
}

launch_java() { # name port jar args... -> JAVA_PID (does not wait; see await_port)
  # With JAVA_MAIN set, the Boot jar is started through PropertiesLauncher with that main class
  # (the product jar's manifest Start-Class may be the demo launcher).
  local name=$1 port=$2 jar=$3; shift 3
  if [ -n "${JAVA_MAIN:-}" ]; then
    note_cmd java $JVM_FLAGS -Dloader.main="$JAVA_MAIN" -cp "$jar" org.springframework.boot.loader.launch.PropertiesLauncher \
      --server.port="$port" "$@"
    java $JVM_FLAGS -Dloader.main="$JAVA_MAIN" -cp "$jar" org.springframework.boot.loader.launch.PropertiesLauncher \
      --server.port="$port" "$@" >"$LOG_DIR/$name.log" 2>&1 &
  else
    note_cmd java $JVM_FLAGS -jar "$jar" --server.port="$port" "$@"
    java $JVM_FLAGS -jar "$jar" --server.port="$port" "$@" >"$LOG_DIR/$name.log" 2>&1 &
  fi
  JAVA_PID=$!
  STARTED_PIDS+=("$JAVA_PID")
}

# One node of the product as every stomp-relay bench runs it: the relay on the given Redis, JWTs
# signed with $SECRET, the load-test publisher on. `launch_product name port jar redis node-id
# [extra args...]`, redis = the port of a standalone Redis on 127.0.0.1, or a Redis Cluster's
# host:port list -> JAVA_PID (does not wait; see await_port).
launch_product() {
  local name=$1 port=$2 jar=$3 redis=$4 node_id=$5 redis_arg; shift 5
  redis_arg=--spring.data.redis.url="redis://127.0.0.1:$redis"
  [[ $redis == *:* ]] && redis_arg=--spring.data.redis.cluster.nodes="$redis"
  JAVA_MAIN=io.stomprelay.StompRelayApplication launch_java "$name" "$port" "$jar" "$redis_arg" \
    --stomp-relay.auth.jwt.secret="$SECRET" --stomp-relay.node-id="$node_id" --stomp-relay.loadtest.enabled=true "$@"
}

# The load generator's open-loop ladder, with the benchmark's sessions and payload (USERS users x 2
# sessions, default 200; PAYLOAD bytes, default 100): `ladder_command system protocol ws-list
# publish-url workloads rates step-seconds out.jsonl [extra...]` (extra: --pids, --profile-pid,
# --deflate, ...) sets LADDER_COMMAND, for the caller to run (`record "${LADDER_COMMAND[@]}" >out`,
# or in the background with `&`, so that $! is the generator's own pid).
ladder_command() {
  local system=$1 protocol=$2 ws=$3 publish=$4 workloads=$5 rates=$6 seconds=$7 out=$8; shift 8
  # shellcheck disable=SC2206 # GEN_FLAGS is a list of flags
  LADDER_COMMAND=(java $GEN_FLAGS -jar "$LOADGEN" run --system "$system" --protocol "$protocol" --ws "$ws"
    --publish "$publish" --secret "$SECRET" --users "${USERS:-200}" --sessions-per-user 2
    --workloads "$workloads" --rates "$rates" --seconds "$seconds" --payload "${PAYLOAD:-100}" --out "$out" "$@")
}

await_port() { # name port
  if ! wait_port 127.0.0.1 "$2" 150; then
    echo "---- $1 did not start; last log lines:" >&2
    tail -40 "$LOG_DIR/$1.log" >&2
    return 1
  fi
}

start_node_sio() { # name port redis_port -> NODE_PID
  local name=$1 port=$2 rport=$3
  note_cmd PORT="$port" REDIS_URL="redis://127.0.0.1:$rport" JWT_SECRET="\$SECRET" NODE_ID="$name" \
    ${PERMESSAGE_DEFLATE:+PERMESSAGE_DEFLATE=1} node "$BENCH_DIR/socketio/server.js"
  PORT="$port" REDIS_URL="redis://127.0.0.1:$rport" JWT_SECRET="$SECRET" NODE_ID="$name" \
    node "$BENCH_DIR/socketio/server.js" >"$LOG_DIR/$name.log" 2>&1 &
  NODE_PID=$!
  STARTED_PIDS+=("$NODE_PID")
  wait_port 127.0.0.1 "$port" 30
}
