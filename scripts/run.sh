#!/usr/bin/env bash
# `make run`: OpenSearch + Redis, the sample catalog indexed, the sidecar and the console.
# Ctrl-C (or `make stop` from another shell) stops everything this script started.
# RUN_DETACH=1 returns once everything is up (used by scripted demos and tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENSEARCH_PORT=${OPENSEARCH_PORT:-9200} REDIS_PORT=${REDIS_PORT:-6379}
SIDECAR_PORT=${SIDECAR_PORT:-8080}
CONSOLE_PORT=${CONSOLE_PORT:-8501}
RUN_DIR=.run
PY=.venv/bin/python
mkdir -p "$RUN_DIR"
t0=$(date +%s)

[ "${RUN_DETACH:-0}" = 1 ] || trap 'echo; scripts/stop.sh' EXIT INT TERM

scripts/services.sh up
$PY -m sidecar.sample_catalog generate --out data/catalog
$PY -m sidecar.sample_catalog index --url "http://127.0.0.1:$OPENSEARCH_PORT" \
  --index products --data data/catalog --recreate

# The best backend this machine can run: Lychee on a GPU when weights are configured.
if [ -z "${LYCHEE_ENGINE__MODEL:-}" ]; then
  if [ -n "${LYCHEE_MODEL_DIR:-}" ] && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    export LYCHEE_ENGINE__MODEL="lychee:$LYCHEE_MODEL_DIR"
  else
    export LYCHEE_ENGINE__MODEL=minilm
  fi
fi
export LYCHEE_CONFIG=${LYCHEE_CONFIG:-config/sidecar.yaml}
export LYCHEE_RULES_PATH=${LYCHEE_RULES_PATH:-config/rules.example.yaml}
export LYCHEE_OPENSEARCH_URL="http://127.0.0.1:$OPENSEARCH_PORT"
export LYCHEE_CACHE__REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export LYCHEE_IMAGES__LOCAL_ROOT="$PWD/data/catalog"
export LYCHEE_PORT=$SIDECAR_PORT
export LYCHEE_HOST=${LYCHEE_HOST:-127.0.0.1}  # 0.0.0.0 to serve other machines

# Embed the catalog into the shared embedding cache before the first search (MiniLM: a
# separate process fills Redis). Lychee's caches live in the serving process: it is asked
# to warm itself once it is ready, below.
if [ "$LYCHEE_ENGINE__MODEL" = minilm ]; then
  $PY -m sidecar warm --index products --no-progress
fi

$PY -m sidecar >"$RUN_DIR/sidecar.log" 2>&1 &
echo $! >"$RUN_DIR/sidecar.pid"
SIDECAR_URL="http://127.0.0.1:$SIDECAR_PORT"
for _ in $(seq 1 240); do
  curl -fsS "$SIDECAR_URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$(cat "$RUN_DIR/sidecar.pid")" 2>/dev/null || { tail -30 "$RUN_DIR/sidecar.log"; exit 1; }
  sleep 0.5
done
curl -fsS "$SIDECAR_URL/readyz" >/dev/null || { echo "sidecar not ready"; tail -30 "$RUN_DIR/sidecar.log"; exit 1; }

# Lychee: the running sidecar preprocesses and vision-encodes every catalog image into its
# own caches (POST /api/warm). A failure leaves them to the first searches, nothing worse.
case "$LYCHEE_ENGINE__MODEL" in
  lychee:* | tiny:*)
    $PY -m sidecar warm --index products --no-progress --via "$SIDECAR_URL" ||
      echo "warming the sidecar failed; the first searches fill its caches instead"
    ;;
esac

SIDECAR_URL=$SIDECAR_URL .venv/bin/streamlit run console/app.py --server.port "$CONSOLE_PORT" \
  --server.address 127.0.0.1 --server.headless true --browser.gatherUsageStats false \
  >"$RUN_DIR/console.log" 2>&1 &
echo $! >"$RUN_DIR/console.pid"
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$CONSOLE_PORT/_stcore/health" >/dev/null 2>&1 && break
  sleep 0.5
done

cat <<MSG

lychee-rerank-sidecar is up in $(( $(date +%s) - t0 )) s (model: $LYCHEE_ENGINE__MODEL)
  OpenSearch        http://127.0.0.1:$OPENSEARCH_PORT   (sample catalog in index "products")
  Sidecar (proxy)   $SIDECAR_URL     (point your OpenSearch client here)
  Console           http://127.0.0.1:$CONSOLE_PORT   (search preview: /search?q=denim+jacket)
  Try: curl -s "$SIDECAR_URL/products/_search" -H 'content-type: application/json' \\
         -d '{"query":{"match":{"title":"retro denim jacket"}},"size":5,"ext":{"rerank":{"explain":true}}}'
Logs in $RUN_DIR/. Ctrl-C or 'make stop' stops everything.
MSG
[ "${RUN_DETACH:-0}" = 1 ] && exit 0
wait
