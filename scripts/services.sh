#!/usr/bin/env bash
# Start or stop the services the sidecar talks to (used by `make run`).
#
#   scripts/services.sh up       OpenSearch on $OPENSEARCH_PORT (9200), Redis on $REDIS_PORT (6379)
#   scripts/services.sh down     stop both
#   scripts/services.sh status
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# `up` records its ports here; `down` and `status` use them unless the environment names
# ports itself, so `make stop` finds what `OPENSEARCH_PORT=... make run` started.
RECORD="$HERE/../.run/services.env"
if [[ "${1:-}" != up && -f "$RECORD" ]]; then
    # shellcheck disable=SC1090
    source <(grep -E '^RECORDED_(OPENSEARCH|REDIS)_PORT=[0-9]+$' "$RECORD")
fi
OPENSEARCH_PORT="${OPENSEARCH_PORT:-${RECORDED_OPENSEARCH_PORT:-9200}}"
REDIS_PORT="${REDIS_PORT:-${RECORDED_REDIS_PORT:-6379}}"

case "${1:-}" in
    up)
        mkdir -p "$(dirname "$RECORD")"
        printf 'RECORDED_OPENSEARCH_PORT=%s\nRECORDED_REDIS_PORT=%s\n' \
            "$OPENSEARCH_PORT" "$REDIS_PORT" >"$RECORD"
        "$HERE/redis.sh" start --port "$REDIS_PORT"
        "$HERE/opensearch.sh" start --port "$OPENSEARCH_PORT"
        ;;
    down)
        # Stop both even if the first one fails.
        rc=0
        "$HERE/opensearch.sh" stop --port "$OPENSEARCH_PORT" || rc=$?
        "$HERE/redis.sh" stop --port "$REDIS_PORT" || rc=$?
        [[ "$rc" == 0 ]] && rm -f "$RECORD"
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
