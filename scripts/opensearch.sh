#!/usr/bin/env bash
# A single-node OpenSearch 2.19 for development and tests, built from Maven Central jars.
#
#   scripts/opensearch.sh build                 resolve jars (~/.m2) and compile the launcher once
#   scripts/opensearch.sh start  [--port N] [--data DIR] [--heap 512m] [--timeout SECONDS]
#                                               start in the background, wait until every primary is active
#   scripts/opensearch.sh stop   [--port N]     stop the node started by `start` (by PID)
#   scripts/opensearch.sh status [--port N]     print PID and cluster health
#   scripts/opensearch.sh run    [--port N] [--data DIR] [--heap 512m]
#                                               run in the foreground (exec); the node stops when
#                                               stdin closes (how tests start it)
#
# Runtime files live in .run/opensearch-PORT/ (pid, port, node.log, home/ with data and logs).
# Extra JVM flags: env OPENSEARCH_JAVA_OPTS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/opensearch-node"
CLASSPATH_FILE="$NODE_DIR/target/classpath.txt"
LAUNCHER_CLASS="$NODE_DIR/target/classes/dev/lychee/opensearch/NodeLauncher.class"
# Maven leaves classpath.txt untouched when it is unchanged, so freshness needs its own stamp.
BUILD_STAMP="$NODE_DIR/target/.built"

PORT="${OPENSEARCH_PORT:-9200}"
DATA=""
HEAP="512m"
TIMEOUT=90

die() { echo "opensearch.sh: $*" >&2; exit 1; }

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --data) DATA="${2:?--data needs a value}"; shift 2 ;;
            --heap) HEAP="${2:?--heap needs a value}"; shift 2 ;;
            --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -gt 0 && "$PORT" -lt 65536 ]] \
        || die "--port must be 1-65535, got '$PORT'"
    [[ "$HEAP" =~ ^[0-9]+[mMgG]$ ]] || die "--heap must look like 512m or 1g, got '$HEAP'"
    [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$TIMEOUT'"
    RUN_DIR="$ROOT/.run/opensearch-$PORT"
    PID_FILE="$RUN_DIR/pid"
    LOG_FILE="$RUN_DIR/node.log"
    DATA="${DATA:-$RUN_DIR/home}"
}

# Fresh when the classpath and class exist, are newer than the sources, and ~/.m2 still has them.
build_is_fresh() {
    [[ -s "$CLASSPATH_FILE" && -f "$LAUNCHER_CLASS" && -f "$BUILD_STAMP" ]] || return 1
    [[ -z "$(find "$NODE_DIR/pom.xml" "$NODE_DIR/src" -newer "$BUILD_STAMP" -type f)" ]] \
        || return 1
    [[ -f "$(cut -d: -f1 "$CLASSPATH_FILE")" ]]
}

build() {
    command -v java >/dev/null || die "java (17+) is not installed"
    build_is_fresh && return 0
    command -v mvn >/dev/null || die "maven is not installed"
    mkdir -p "$NODE_DIR/target"
    # Parallel callers (tests and `make run`) must not build into the same target/ at once.
    exec 9>"$NODE_DIR/target/.build.lock"
    flock -w 600 9 || die "timed out waiting for another build"
    if ! build_is_fresh; then
        echo "opensearch.sh: building the node (first run resolves ~85 jars)..." >&2
        if ! (cd "$NODE_DIR" && mvn -q -B compile dependency:build-classpath \
            -Dmdep.outputFile="$CLASSPATH_FILE") >"$NODE_DIR/target/build.log" 2>&1; then
            tail -n 40 "$NODE_DIR/target/build.log" >&2
            die "maven build failed (log: $NODE_DIR/target/build.log)"
        fi
        touch "$BUILD_STAMP"
    fi
    exec 9>&-
}

java_command() {
    mkdir -p "$DATA"
    # C1 only and the serial GC halve start-up CPU (~9 s vs ~19 s) on a small dev node;
    # OPENSEARCH_JAVA_OPTS comes last, so e.g. -XX:TieredStopAtLevel=4 restores C2.
    local extra=()
    read -r -a extra <<<"${OPENSEARCH_JAVA_OPTS:-}"
    JAVA_CMD=(java "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
        "${extra[@]}"
        -cp "$NODE_DIR/target/classes:$(cat "$CLASSPATH_FILE")"
        dev.lychee.opensearch.NodeLauncher --home "$DATA" --port "$PORT")
}

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    kill -0 "$pid" 2>/dev/null || return 1
    # A stale pid file may name a recycled PID: only trust it if it is still our server.
    grep -qa NodeLauncher "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

health() {
    curl -s --max-time "${2:-5}" \
        "http://127.0.0.1:$PORT/_cluster/health?wait_for_status=yellow&timeout=${1:-1}s" || true
}

wait_for_health() {
    local pid="$1" deadline=$((SECONDS + TIMEOUT)) body=""
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || {
            tail -n 40 "$LOG_FILE" >&2
            die "node exited during start-up (log: $LOG_FILE)"
        }
        body="$(health 2 5)"
        # Yellow on one node means every primary is active and only replicas (which one node
        # can never place) are unassigned: ready. Waiting for green would sit out the whole
        # timeout whenever an index has replicas (e.g. one created by a plain `PUT /t/_doc`).
        [[ "$body" == *'"status":"green"'* || "$body" == *'"status":"yellow"'* ]] && return 0
        [[ -n "$body" ]] || sleep 0.5
    done
    tail -n 40 "$LOG_FILE" >&2
    die "no yellow/green health on port $PORT within ${TIMEOUT}s (last: ${body:-no answer})"
}

start() {
    if pid="$(running_pid)"; then
        echo "opensearch already running on port $PORT (pid $pid)"
        return 0
    fi
    port_in_use "$PORT" && die "port $PORT is already taken by another process"
    build
    java_command
    mkdir -p "$RUN_DIR"
    local started=$SECONDS
    # setsid: the node outlives this shell and ignores the terminal's Ctrl-C.
    setsid "${JAVA_CMD[@]}" </dev/null >>"$LOG_FILE" 2>&1 &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$PORT" >"$RUN_DIR/port"
    wait_for_health "$pid"
    echo "opensearch up on http://127.0.0.1:$PORT (pid $pid, $((SECONDS - started))s, log $LOG_FILE)"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE" "$RUN_DIR/port"
        echo "opensearch not running on port $PORT"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "opensearch.sh: pid $pid ignored SIGTERM for 30s; killing" >&2
        kill -KILL "$pid"
    fi
    rm -f "$PID_FILE" "$RUN_DIR/port"
    echo "opensearch stopped (port $PORT, pid $pid)"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        echo "opensearch running on port $PORT (pid $pid): $(health 0 5)"
    else
        echo "opensearch not running on port $PORT"
        return 3
    fi
}

run() {
    build
    java_command
    exec "${JAVA_CMD[@]}" --exit-on-stdin-eof
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    build) build ;;
    start) parse_args "$@"; start ;;
    stop) parse_args "$@"; stop ;;
    status) parse_args "$@"; status ;;
    run) parse_args "$@"; run ;;
    *) die "usage: opensearch.sh build|start|stop|status|run [--port N] [--data DIR] [--heap 512m]" ;;
esac
