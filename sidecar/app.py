"""The FastAPI app: routes, error table, metrics middleware, and the lifespan that builds
the clients (kept on `app.state.services`).

Route order matters: our routes first, the OpenSearch pass-through (`/{path:path}`) last.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from connectors.score_cache import ScoreCache
from connectors.search import SearchBackend
from lychee_engine.types import Scorer
from sidecar import proxy
from sidecar.api import catalog_images, cohere, health, msearch, rerank, score, search_all, warm
from sidecar.api import search as search_route
from sidecar.api.errors import install_error_handlers
from sidecar.api.models import build_models
from sidecar.http_metrics import HttpMetricsMiddleware
from sidecar.limits import BodyLimitMiddleware
from sidecar.metrics import Metrics
from sidecar.services import Overrides, build_services
from sidecar.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    *,
    scorer: Scorer | None = None,
    cache: ScoreCache | None = None,
    search: SearchBackend | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the sidecar app. Parts given here are used as they are (tests inject fakes);
    the rest is built from `settings` when the app starts."""
    settings = settings or get_settings()
    metrics = Metrics()
    overrides = Overrides(scorer, cache, search, upstream_transport)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings, metrics, overrides)
        app.state.services = services
        try:
            yield
        finally:
            await app.state.warm_gate.close()  # a warm still walking uses the services
            await services.close()

    app = FastAPI(
        title="lychee-rerank-sidecar",
        summary="Multimodal reranking in front of OpenSearch",
        version="0.1.0",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.warm_gate = warm.WarmGate()
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.limits.max_body_bytes,
        max_passthrough_bytes=settings.proxy.max_content_length,
    )
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)  # outermost: counts 413s too
    models = build_models(settings.limits)
    app.include_router(health.router)
    app.include_router(rerank.rerank_router(models.rerank))
    app.include_router(cohere.cohere_router(models.cohere))
    app.include_router(score.score_router(models.score))
    app.include_router(search_route.router)
    app.include_router(catalog_images.router)
    app.include_router(search_all.router)
    app.include_router(msearch.router)
    app.include_router(warm.router)
    app.include_router(proxy.router)  # last: everything else goes to OpenSearch
    return app
