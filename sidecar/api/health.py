"""`/healthz` (the process answers), `/readyz` (model loaded and OpenSearch reachable),
and `/metrics` (Prometheus)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from starlette.responses import Response

from lychee_engine.types import capabilities_of
from sidecar.api.deps import ServicesDep
from sidecar.api.errors import json_response
from sidecar.metrics import CONTENT_TYPE
from sidecar.proxy import remember_product_headers

READY_TIMEOUT_S = 2.0
router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> Response:
    """The process is up and serving HTTP."""
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """200 when the model is loaded and OpenSearch answers; 503 naming what is not ready."""
    services = getattr(request.app.state, "services", None)
    checks = {"model": "not_loaded", "opensearch": "unknown"}
    if services is not None:
        checks["model"] = f"ok ({services.scorer.model_id})"
        checks["opensearch"] = await _opensearch_check(services.upstream, services.product_headers)
    ready = checks["model"].startswith("ok") and checks["opensearch"] == "ok"
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if services is not None:
        # What the model can judge; the rest steps aside (sidecar/step_aside.py).
        body["capabilities"] = capabilities_of(services.scorer).as_dict()
    return json_response(body, 200 if ready else 503)


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


async def _opensearch_check(client: httpx.AsyncClient, product: dict[str, str]) -> str:
    try:
        response = await client.get("/", timeout=READY_TIMEOUT_S)
    except httpx.TimeoutException:
        return "timeout"
    except httpx.HTTPError:
        return "unreachable"
    remember_product_headers(product, response.headers)
    # 401/403: reachable, and our own probe simply lacks credentials.
    return "ok" if response.status_code < 500 else f"status {response.status_code}"
