#!/usr/bin/env bash
# A throwaway Redis on 127.0.0.1 for development and tests (no persistence).
#
#   scripts/redis.sh install               apt-get install redis-server if it is missing
#   scripts/redis.sh start  [--port N]     start daemonized, wait for PING
#   scripts/redis.sh stop   [--port N]     stop the server started by `start` (by PID)
#   scripts/redis.sh status [--port N]
#   scripts/redis.sh run    [--port N] [--dir DIR]
#                                          run in the foreground (exec; how tests start it)
#
# Runtime files live in .run/redis-PORT/ (pid, port, redis.log) unless --dir says otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${REDIS_PORT:-6379}"
TIMEOUT=20
RUN_DIR=""

die() { echo "redis.sh: $*" >&2; exit 1; }

parse_args() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --timeout) TIMEOUT="${2:?--timeout needs a value}"; shift 2 ;;
            --dir) RUN_DIR="${2:?--dir needs a value}"; shift 2 ;;
            *) die "unknown option: $1" ;;
        esac
    done
    [[ "$PORT" =~ ^[0-9]+$ && "$PORT" -gt 0 && "$PORT" -lt 65536 ]] \
        || die "--port must be 1-65535, got '$PORT'"
    [[ "$TIMEOUT" =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, got '$TIMEOUT'"
    RUN_DIR="${RUN_DIR:-$ROOT/.run/redis-$PORT}"
    PID_FILE="$RUN_DIR/pid"
}

install() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return 0
    [[ "$(id -u)" == 0 ]] || die "redis-server is missing; install it (apt-get install redis-server)"
    echo "redis.sh: installing redis-server with apt-get..." >&2
    # Keep the package's init script from starting a system Redis on 6379.
    local added_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    local rc=0
    { timeout 300 apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq \
            --no-install-recommends redis-server; } >&2 || rc=$?
    [[ -n "$added_policy" ]] && rm -f /usr/sbin/policy-rc.d
    ((rc == 0)) || die "apt-get install redis-server failed (exit $rc)"
}

server_args() {
    SERVER_ARGS=(--bind 127.0.0.1 --port "$PORT" --save "" --appendonly no
        --dir "$RUN_DIR" --protected-mode yes)
}

ping() { redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; }

running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    kill -0 "$pid" 2>/dev/null || return 1
    # A stale pid file may name a recycled PID: only trust it if it is still our server.
    grep -qa redis-server "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    install
    if pid="$(running_pid)"; then
        echo "redis already running on port $PORT (pid $pid)"
        return 0
    fi
    ping && die "port $PORT already answers PING but is not ours (no pid in $RUN_DIR)"
    mkdir -p "$RUN_DIR"
    server_args
    redis-server "${SERVER_ARGS[@]}" --daemonize yes --pidfile "$PID_FILE" \
        --logfile "$RUN_DIR/redis.log" || die "redis-server failed to start"
    local deadline=$((SECONDS + TIMEOUT))
    until ping; do
        ((SECONDS < deadline)) || {
            tail -n 20 "$RUN_DIR/redis.log" >&2
            die "no PONG on port $PORT within ${TIMEOUT}s"
        }
        sleep 0.1
    done
    echo "$PORT" >"$RUN_DIR/port"
    echo "redis up on redis://127.0.0.1:$PORT (pid $(cat "$PID_FILE"))"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE" "$RUN_DIR/port"
        echo "redis not running on port $PORT"
        return 0
    fi
    kill -TERM "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    rm -f "$PID_FILE" "$RUN_DIR/port"
    echo "redis stopped (port $PORT, pid $pid)"
}

status() {
    local pid
    if pid="$(running_pid)" && ping; then
        echo "redis running on port $PORT (pid $pid)"
    else
        echo "redis not running on port $PORT"
        return 3
    fi
}

run() {
    install
    mkdir -p "$RUN_DIR"
    server_args
    exec redis-server "${SERVER_ARGS[@]}"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
    install) install ;;
    start) parse_args "$@"; start ;;
    stop) parse_args "$@"; stop ;;
    status) parse_args "$@"; status ;;
    run) parse_args "$@"; run ;;
    *) die "usage: redis.sh install|start|stop|status|run [--port N]" ;;
esac
