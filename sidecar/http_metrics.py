"""A pure ASGI middleware counting requests by route and status, and timing them.

Pure ASGI (not BaseHTTPMiddleware) so streamed proxy responses are not buffered and the
warm search path pays nothing but two dict lookups.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sidecar.metrics import Metrics


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_record)
        finally:
            route = _route_label(scope)
            metrics = self._metrics
            metrics.child(metrics.requests, route, scope["method"], str(status)).inc()
            metrics.child(metrics.request_seconds, route).observe(time.perf_counter() - started)


def _route_label(scope: Scope) -> str:
    """The matched route's template (bounded label values), `proxy` for the pass-through."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return "proxy" if path == "/{path:path}" else str(path)
