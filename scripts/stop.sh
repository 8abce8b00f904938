#!/usr/bin/env bash
# Stops what `make run` started: console, sidecar, then OpenSearch and Redis (on the ports
# `services.sh up` recorded, so no port needs giving again).
set -uo pipefail
cd "$(dirname "$0")/.."
for name in console sidecar; do
  pidfile=.run/$name.pid
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
done
[ -x scripts/services.sh ] && scripts/services.sh down
echo "stopped"
