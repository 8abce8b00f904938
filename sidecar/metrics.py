"""Prometheus metrics, one registry per app so tests and several apps never share counters."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The service's counters and histograms, registered on their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self.requests = Counter(
            "lychee_requests",
            "HTTP requests by route and status code",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "lychee_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "lychee_stage_seconds",
            "Search pipeline latency per stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "lychee_cache_hits", "Scores served from the cache", registry=self.registry
        )
        self.cache_misses = Counter(
            "lychee_cache_misses", "Scores not in the cache", registry=self.registry
        )
        self.rerank_outcomes = Counter(
            "lychee_rerank",
            "Search requests by rerank status and reason",
            ["status", "reason"],
            registry=self.registry,
        )
        self.scored_pairs = Histogram(
            "lychee_scored_pairs",
            "Pairs sent to the model per request (cache misses)",
            buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
            registry=self.registry,
        )
        self.result_cache = Counter(
            "lychee_result_cache",
            "Search requests by result-cache outcome (hit, shared_hit from Redis, miss, bypass)",
            ["outcome"],
            registry=self.registry,
        )
        self.warm_documents = Counter(
            "lychee_warm_documents",
            "Documents walked by POST /api/warm, by outcome: warmed (a cache lacked them and "
            "now holds them), cached (nothing to do), unscorable (the model cannot read them)",
            ["outcome"],
            registry=self.registry,
        )
        self.image_errors = Counter(
            "lychee_image_errors", "Images that could not be fetched", registry=self.registry
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, memoized: `labels()` costs microseconds on a hot path."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def watch_scorer(self, stats: Callable[[], Any]) -> None:
        """Export the micro-batcher's queue depth and batch sizes at scrape time."""
        self.registry.register(_BatcherCollector(stats))

    def watch_value(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        """A gauge read at scrape time (breaker state, cache errors)."""
        self.registry.register(_ValueCollector(name, documentation, value))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ValueCollector(Collector):
    def __init__(self, name: str, documentation: str, value: Callable[[], float]) -> None:
        self._name = name
        self._documentation = documentation
        self._value = value

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._documentation, self._value())

    def describe(self) -> Iterator[Metric]:
        return iter(())


class _BatcherCollector(Collector):
    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        snapshot = self._stats()
        yield GaugeMetricFamily(
            "lychee_batcher_queue_depth", "Pairs waiting for a forward pass", snapshot.queue_depth
        )
        yield CounterMetricFamily(
            "lychee_batcher_batches", "Forward passes run", snapshot.batches_run
        )
        yield CounterMetricFamily(
            "lychee_batcher_pairs", "Pairs scored by forward passes", snapshot.pairs_scored
        )
        yield GaugeMetricFamily(
            "lychee_batcher_last_batch_pairs",
            "Pairs in the last forward pass",
            snapshot.last_batch_pairs,
        )
        yield GaugeMetricFamily(
            "lychee_batcher_mean_batch_pairs",
            "Mean pairs per forward pass since start",
            snapshot.mean_pairs_per_batch,
        )
        yield CounterMetricFamily(
            "lychee_batcher_forward_seconds",
            "Time spent in forward passes",
            snapshot.forward_seconds,
        )

    def describe(self) -> Iterator[Metric]:
        return iter(())


class StageTimer:
    """Times the pipeline's stages: milliseconds for the response, seconds for Prometheus."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._metrics = metrics
        self.timings_ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.timings_ms[name] = self.timings_ms.get(name, 0.0) + elapsed * 1000.0
            if self._metrics is not None:
                self._metrics.child(self._metrics.stage_seconds, name).observe(elapsed)
