"""One table from exceptions to HTTP responses, in two shapes.

Our own routes (/api, /v1, health, metrics) answer `{"error": {"type", "reason"}}`. Every
other path speaks OpenSearch: `{"error": {"root_cause": [...], "type", "reason"},
"status": N}`, so storefront clients parse our errors like OpenSearch's. Internal exception
text never reaches a client; it is logged instead.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from connectors.errors import UpstreamError
from lychee_engine.errors import EngineError
from sidecar.errors import SidecarError, to_sidecar_error

log = logging.getLogger(__name__)
OWN_PREFIXES = ("/api/", "/v1/")
OWN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"})


def is_own_route(path: str) -> bool:
    return path.startswith(OWN_PREFIXES) or path in OWN_PATHS


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


def opensearch_error_body(status: int, error_type: str, reason: str) -> dict[str, Any]:
    cause = {"type": error_type, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def error_response(path: str, status: int, error_type: str, reason: str) -> Response:
    if is_own_route(path):
        return json_response({"error": {"type": error_type, "reason": reason}}, status)
    return json_response(opensearch_error_body(status, error_type, reason), status)


async def _sidecar_error(request: Request, exc: Exception) -> Response:
    err = to_sidecar_error(exc)
    if err.status_code >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, err.reason)
    return error_response(request.url.path, err.status_code, err.error_type, err.reason)


async def _upstream_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UpstreamError)
    return json_response(exc.body, exc.status)  # OpenSearch's own status and body


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        problems.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return error_response(request.url.path, 422, "validation_error", "; ".join(problems))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(request.url.path, exc.status_code, kind, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request.url.path, 500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the whole table on `app`."""
    app.add_exception_handler(SidecarError, _sidecar_error)
    app.add_exception_handler(EngineError, _sidecar_error)
    app.add_exception_handler(UpstreamError, _upstream_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
