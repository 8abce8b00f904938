# lychee-rerank-sidecar. `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
DATA := data/catalog
# Home Depot judged pairs (calibration and evaluation; not redistributed, see its README)
HOMEDEPOT ?= ../shared/data/homedepot/train.csv.zip
# Nothing is ever fetched from a model hub: weights are local directories or ship in packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.DEFAULT_GOAL := help
.PHONY: help venv run stop services-up services-down catalog tiny-checkpoint calibrate \
	test test-unit test-integration test-e2e test-real-shapes check lint format typecheck \
	bench-engine bench-sidecar bench-codec bench-gpu bench-gpu-tiny bench-isolation eval loadtest clean warm

help: ## List every target with its purpose
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,console,eval]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP) ## Create .venv and install the project with its dev, console and eval extras

run: venv ## Run the product: OpenSearch, Redis, sample catalog, sidecar (:8080), console (:8501)
	@scripts/run.sh

stop: ## Stop everything `make run` started
	@scripts/stop.sh

services-up: venv ## Start only OpenSearch (:9200) and Redis (:6379)
	@scripts/services.sh up

services-down: ## Stop OpenSearch and Redis started by services-up
	@scripts/services.sh down

catalog: venv ## Generate the sample catalog (products, images, judged queries) into data/catalog
	$(PY) -m sidecar.sample_catalog generate --out $(DATA)

tiny-checkpoint: venv ## Write a tiny random-weight Qwen2.5-VL checkpoint to data/tiny-lychee
	$(PY) -m lychee_engine.tiny data/tiny-lychee

calibrate: venv ## Refit the score calibration on Home Depot judgments (MODEL=lychee:DIR for Lychee)
	$(PY) -m lychee_engine.calibrate_minilm --model $(or $(MODEL),minilm) --data $(HOMEDEPOT)

INDEX ?= products
warm: venv ## Fill the caches from an index (INDEX=products; VIA=http://127.0.0.1:8080: the running sidecar warms itself, needed for Lychee)
	LYCHEE_CONFIG=$${LYCHEE_CONFIG:-config/sidecar.yaml} \
	LYCHEE_CACHE__REDIS_URL=$${LYCHEE_CACHE__REDIS_URL:-redis://127.0.0.1:6379/0} \
	$(PY) -m sidecar warm --index $(INDEX) $(if $(VIA),--via $(VIA))

check: venv ## ruff lint + format check and mypy on the three packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

lint: check ## Alias of check

format: venv ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: venv check ## The whole suite (unit, integration, e2e; not gpu): starts and stops its services
	@scripts/ensure_system_deps.sh
	$(PY) -m pytest -m "not gpu" tests
	$(MAKE) --no-print-directory bench-gpu-tiny

test-unit: venv ## Unit tests only (no services)
	$(PY) -m pytest tests/unit

test-integration: venv ## Integration tests against real OpenSearch and Redis
	$(PY) -m pytest -m integration tests/integration

test-e2e: venv ## The console driven in headless Chromium against the whole stack
	@scripts/ensure_system_deps.sh
	$(PY) -m pytest -m e2e tests/e2e

test-real-shapes: venv ## Full-width 2-layer Qwen2.5-VL-7B on CPU: fast == plain in fp32 (~10 GB RSS, minutes)
	$(PY) -m pytest -m real_shapes tests/unit/test_real_shapes.py -s

bench-engine: venv ## Engine throughput/latency/padding vs a naive reference (tiny checkpoint on CPU)
	$(PY) benchmarks/bench_engine.py

bench-sidecar: venv ## Warm-cache search via the sidecar vs straight to OpenSearch, and the cold path
	$(PY) benchmarks/bench_sidecar.py

bench-codec: venv ## Rankings and NDCG@10 from float16/int8 cached embeddings vs float32 (sample + Home Depot)
	$(PY) benchmarks/bench_embedding_codec.py --homedepot $(HOMEDEPOT)

bench-gpu: venv ## GPU serving benchmark on a full-size random-weight Qwen2.5-VL-7B (needs CUDA)
	$(PY) benchmarks/bench_gpu.py --full-size

bench-gpu-tiny: venv ## The GPU benchmark script on the tiny checkpoint on CPU (keeps it from rotting)
	$(PY) benchmarks/bench_gpu.py --tiny

eval: venv ## NDCG@10 of BM25, model only and as shipped: sample catalog + Home Depot held-out
	$(PY) -m sidecar.eval --dataset sample $(if $(wildcard $(HOMEDEPOT)),homedepot) \
		--homedepot $(HOMEDEPOT) --out reports/eval

bench-isolation: venv ## Hostile clients (huge heads, slowloris, slow bodies, big bulks) vs others, RSS
	$(PY) benchmarks/bench_proxy_isolation.py

loadtest: venv ## Concurrent clients against the sidecar (minilm): errors, latency, RSS over time
	$(PY) benchmarks/loadtest.py

clean: stop ## Remove generated data, caches and the run directory (keeps .venv)
	rm -rf data .run test-artifacts reports .pytest_cache .mypy_cache .ruff_cache
