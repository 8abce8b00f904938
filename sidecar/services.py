"""The long-lived parts of one app: clients, the scorer, the cache, the pipeline.

Built once in the app's lifespan and kept on `app.state.services`; parts handed in by the
caller (tests inject fakes or a shared scorer) are used as given and not closed here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.hydrate import FieldMapping, Hydrator
from connectors.safe_fetch import FetchConfig, SafeImageFetcher
from connectors.score_cache import LruScoreCache, RedisScoreCache, ScoreCache
from connectors.search import OpenSearchSearch, SearchBackend
from connectors.shared_results import RedisResultStore
from lychee_engine import load_scorer
from lychee_engine.fast.options import FastOptions
from lychee_engine.options import EngineOptions
from lychee_engine.prompt import PROMPT_VERSION
from lychee_engine.types import Scorer
from sidecar.breaker import BreakerState, CircuitBreaker
from sidecar.embeddings import cache_embeddings, write_warmer
from sidecar.image_cache_metrics import watch_image_caches
from sidecar.image_input import ImageResolver
from sidecar.limiter import InflightLimiter
from sidecar.metrics import Metrics
from sidecar.result_cache import IndexGenerations, ResultCache, ResultLookup
from sidecar.rules import RulesStore
from sidecar.search_pipeline import SearchPipeline
from sidecar.settings import Settings
from sidecar.upstream_transport import aiohttp_transport
from sidecar.window_scoring import WindowScorer
from sidecar.write_warming import WriteWarmer

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Overrides:
    """Parts a caller builds itself (tests, embedding apps); None: built from settings."""

    scorer: Scorer | None = None
    cache: ScoreCache | None = None
    search: SearchBackend | None = None
    upstream_transport: httpx.AsyncBaseTransport | None = None


@dataclass(slots=True)
class Services:
    settings: Settings
    metrics: Metrics
    scorer: Scorer
    cache: ScoreCache
    search: SearchBackend
    upstream: httpx.AsyncClient
    images: ImageResolver
    rules: RulesStore
    breaker: CircuitBreaker
    pipeline: SearchPipeline
    limiter: InflightLimiter
    results: ResultLookup | None = None
    write_warmer: WriteWarmer | None = None  # warms documents written through the proxy
    # index -> the hydrator searches use (images fetched when the scorer reads them); warming
    # (POST /api/warm) hydrates with the same, so it fills the same cache keys.
    hydrator_for: Callable[[str], Hydrator] | None = None
    # Headers OpenSearch/Elasticsearch stamp on every answer and clients check (elasticsearch-py
    # 8 refuses responses without X-Elastic-Product): learned from upstream answers, copied
    # onto the responses the sidecar builds itself.
    product_headers: dict[str, str] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception as exc:  # keep closing the rest
                log.warning("closing a client failed: %r", exc)


async def build_services(settings: Settings, metrics: Metrics, given: Overrides) -> Services:
    """Build every part the settings describe, except those given."""
    closers: list[Callable[[], Awaitable[Any]]] = []
    scorer = given.scorer if given.scorer is not None else await _load_scorer(settings)
    if given.scorer is None:
        closers.append(scorer.close)
    cached_scorer, embedding_store = cache_embeddings(settings, scorer, metrics)
    if cached_scorer is not None and embedding_store is not None:
        closers.append(embedding_store.close)  # the wrapped batcher is closed above
        scorer = cached_scorer
    cache = given.cache if given.cache is not None else _own(closers, _build_cache(settings))
    search = given.search
    if search is None:
        url, timeout = settings.opensearch_url, settings.opensearch_timeout_s
        search = _own(closers, OpenSearchSearch(url, timeout))
    upstream = httpx.AsyncClient(
        base_url=settings.opensearch_url,
        timeout=httpx.Timeout(
            settings.opensearch_timeout_s,
            connect=settings.proxy.connect_timeout_s,
            pool=settings.proxy.pool_timeout_s,
        ),
        transport=given.upstream_transport
        or aiohttp_transport(settings.proxy.pool_size, settings.proxy.keepalive_s),
        follow_redirects=False,
    )
    closers.append(upstream.aclose)
    fetcher = SafeImageFetcher(_fetch_config(settings))
    closers.append(fetcher.close)
    stats = getattr(scorer, "stats", None)
    if callable(stats):
        metrics.watch_scorer(stats)
    watch_image_caches(metrics, scorer)
    breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
    metrics.watch_value(
        "lychee_breaker_open",
        "1 while the model's circuit breaker refuses calls",
        lambda: float(breaker.state is BreakerState.OPEN),
    )
    cache_stats = getattr(cache, "stats", None)
    if cache_stats is not None and hasattr(cache_stats, "errors"):
        metrics.watch_value(
            "lychee_cache_errors", "Failed score-cache operations", lambda: cache_stats.errors
        )
    window_scorer = WindowScorer(
        scorer,
        cache,
        breaker,
        settings.model_deadline_ms / 1000.0,
        PROMPT_VERSION,
        metrics,
        key_salt=f"chars={settings.engine.max_doc_chars}",
        late_limit=settings.limits.max_late_scoring,
        chunk=settings.model_chunk_docs,
        stall_s=settings.breaker_stall_s,
    )
    closers.append(window_scorer.close)  # closed first: late scoring still uses the scorer
    images = ImageResolver(fetcher, settings.images.max_bytes, settings.images.max_pixels)
    rules = RulesStore(settings.rules_path)
    # A text-only model never sees images: don't download them for it.
    doc_images = fetcher if scorer.supports_images else None
    hydrator_for = _hydrators(settings, doc_images)
    pipeline = SearchPipeline(settings, search, window_scorer, hydrator_for, images, rules, metrics)
    warmer = write_warmer(settings, upstream, hydrator_for, scorer, metrics)
    if warmer is not None:
        closers.append(warmer.close)
    limiter = InflightLimiter(settings.limits.max_inflight)
    results = _result_lookup(settings, search, scorer, rules, metrics)
    if results is not None and settings.result_cache.shared and settings.cache.redis_url:
        results.share(_own(closers, _shared_results(settings)))
    return Services(
        settings, metrics, scorer, cache, search, upstream, images, rules, breaker, pipeline,
        limiter, results, warmer, hydrator_for=hydrator_for, _closers=closers,
    )  # fmt: skip


def _result_lookup(
    settings: Settings, search: SearchBackend, scorer: Scorer, rules: RulesStore, metrics: Metrics
) -> ResultLookup | None:
    """The whole-response cache, when enabled and the search backend can tell index
    generations (test fakes usually cannot: then every request runs the pipeline)."""
    config = settings.result_cache
    generation = getattr(search, "generation", None)
    if not config.enabled or config.max_bytes == 0 or generation is None:
        return None
    model = f"{scorer.model_id}@{scorer.revision}"

    def context() -> str:
        rules.current()  # let a changed rules file reload before its version is read
        return f"{model}/rules={rules.version}"

    def count(outcome: str) -> None:
        metrics.child(metrics.result_cache, outcome).inc()

    generations = IndexGenerations(generation, config.poll_s)
    return ResultLookup(generations, ResultCache(config.max_bytes, config.ttl_s), context, count)


def _shared_results(settings: Settings) -> RedisResultStore:
    config, cache = settings.result_cache, settings.cache
    assert cache.redis_url is not None
    return RedisResultStore(
        cache.redis_url,
        config.ttl_s,
        cache.timeout_s,
        max_body_bytes=max(1, config.max_bytes // 8),
        cluster=cache.redis_cluster,
    )


def _own(closers: list[Callable[[], Awaitable[Any]]], part: Any) -> Any:
    closers.append(part.close)
    return part


async def _load_scorer(settings: Settings) -> Scorer:
    engine = settings.engine
    options = EngineOptions(
        max_batch_tokens=engine.max_batch_tokens,
        max_wait_ms=engine.max_wait_ms,
        queue_size=engine.queue_size,
        queue_bytes=engine.queue_bytes,
        image_cache_bytes=engine.image_cache_bytes,
        max_doc_chars=engine.max_doc_chars,
        min_pixels=engine.min_pixels,
        max_pixels=engine.max_pixels,
        default_instruction=settings.default_instruction,
        fast=FastOptions(**engine.fast.model_dump()),
        calibration=engine.calibration,
    )
    # Loading weights blocks for seconds: keep it off the event loop.
    scorer = await asyncio.to_thread(load_scorer, engine.model, options)
    log.info("scorer ready: %s@%s", scorer.model_id, scorer.revision)
    return scorer


def _build_cache(settings: Settings) -> ScoreCache:
    cache = settings.cache
    if cache.redis_url:
        return RedisScoreCache(
            cache.redis_url,
            cache.ttl_s,
            cache.ttl_jitter,
            cache.timeout_s,
            cluster=cache.redis_cluster,
        )
    return LruScoreCache(cache.lru_size, cache.ttl_s, max_bytes=cache.lru_max_bytes)


def _fetch_config(settings: Settings) -> FetchConfig:
    images = settings.images
    return FetchConfig(
        allowed_schemes=tuple(images.allowed_schemes),
        allowed_hosts=tuple(images.allowed_hosts),
        allow_private_hosts=tuple(images.allow_private_hosts),
        local_root=images.local_root,
        connect_timeout_s=images.connect_timeout_s,
        read_timeout_s=images.read_timeout_s,
        total_timeout_s=images.total_timeout_s,
        max_bytes=images.max_bytes,
        max_redirects=images.max_redirects,
    )


def _hydrators(settings: Settings, fetcher: SafeImageFetcher | None) -> Callable[[str], Hydrator]:
    """One hydrator per index, made on first use from the index's field mapping."""
    made: dict[str, Hydrator] = {}

    def hydrator_for(index: str) -> Hydrator:
        if index not in made:
            fields = settings.index(index).fields
            mapping = FieldMapping(
                id_field=fields.id_field,
                title=fields.title,
                selling_points=tuple(fields.selling_points),
                image_fields=tuple(fields.image_fields),
                rule_fields=tuple(fields.rule_fields),
            )
            made[index] = Hydrator(
                mapping,
                fetcher,
                settings.engine.max_doc_chars,
                max_pixels=settings.images.max_pixels,
            )
        return made[index]

    return hydrator_for
