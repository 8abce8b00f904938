#!/usr/bin/env bash
# Start or stop the services the sidecar talks to (used by `make run`).
#
#   scripts/services.sh up       OpenSearch on $OPENSEARCH_PORT (9200), Redis on $REDIS_PORT (6379)
#   scripts/services.sh down     stop both
#   scripts/services.sh status
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OPENSEARCH_PORT="${OPENSEARCH_PORT:-9200}"
REDIS_PORT="${REDIS_PORT:-6379}"

case "${1:-}" in
    up)
        "$HERE/redis.sh" start --port "$REDIS_PORT"
        "$HERE/opensearch.sh" start --port "$OPENSEARCH_PORT"
        ;;
    down)
        # Stop both even if the first one fails.
        rc=0
        "$HERE/opensearch.sh" stop --port "$OPENSEARCH_PORT" || rc=$?
        "$HERE/redis.sh" stop --port "$REDIS_PORT" || rc=$?
        exit "$rc"
        ;;
    status)
        rc=0
        "$HERE/opensearch.sh" status --port "$OPENSEARCH_PORT" || rc=$?
        "$HERE/redis.sh" status --port "$REDIS_PORT" || rc=$?
        exit "$rc"
        ;;
    *)
        echo "usage: services.sh up|down|status  (env OPENSEARCH_PORT, REDIS_PORT)" >&2
        exit 2
        ;;
esac
