"""`POST /api/warm`: this process walks an index and warms its own scorer.

Only the serving process can fill Lychee's caches (preprocessed images, vision-tower
outputs live in its memory), so it walks the index itself and streams its progress as
NDJSON: `{"done", "total", "warmed"}` per page, then `{"report": {...}}`, or
`{"error": {...}}` when the walk fails midway (the status is already 200 by then). One warm
at a time per process; it runs as a task of its own, so it goes on to its report (logged)
when the client goes away. Searches keep being served meanwhile: Lychee's vision tower
runs on the forward thread between their forward passes (`MicroBatcher.warm`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from connectors.errors import UpstreamError
from connectors.index_walk import index_size
from lychee_engine.errors import EngineError
from lychee_engine.types import Warmable
from lychee_engine.warming import not_warmable, warm_target
from sidecar.api.deps import ServicesDep, require_api_key
from sidecar.api.models import ERROR_RESPONSES, ErrorBody
from sidecar.errors import Conflict, NotFound
from sidecar.services import Services
from sidecar.warm import PAGE_TIMEOUT_S, WarmProgress, walk_and_warm

log = logging.getLogger(__name__)
# Characters no single index name holds (commas, wildcards and separators name several).
_NOT_IN_NAMES = set(',*?/\\ "<>|#:')


class WarmRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: str = Field(min_length=1, max_length=255, description="The one index to walk")
    rate: float | None = Field(default=None, gt=0, description="Max documents per second")
    page_size: int = Field(default=200, ge=1, le=1000, description="Hits per search_after page")

    @field_validator("index")
    @classmethod
    def _one_index(cls, value: str) -> str:
        if _NOT_IN_NAMES & set(value) or value.startswith(("_", "-", "+")):
            raise ValueError(
                "must name one index: no commas, wildcards, spaces or slashes, and no leading _ - +"
            )
        return value


@dataclass(slots=True)
class WarmGate:
    """At most one warm per process (a second would only compete with the first). The walk
    runs as its own task: it goes on to its report when the client goes away, and the
    app's shutdown cancels it (`close`)."""

    index: str | None = None
    task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    def refuse_if_busy(self) -> None:
        if self.busy:
            raise Conflict(
                f"a warm of index {self.index!r} is already running in this process; "
                "wait for its report (one warm at a time)"
            )

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def gate_of(request: Request) -> WarmGate:
    gate: WarmGate = request.app.state.warm_gate
    return gate


router = APIRouter(
    dependencies=[Depends(require_api_key)],  # no in-flight slot: a walk lasts minutes
    tags=["warm"],
    responses={
        **{status: ERROR_RESPONSES[status] for status in (400, 401, 413, 422)},
        404: {"model": ErrorBody, "description": "No such index in OpenSearch"},
        409: {
            "model": ErrorBody,
            "description": "A warm is already running, or this scorer keeps nothing to warm",
        },
    },
)


@router.post(
    "/api/warm",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "Progress lines"}},
)
async def warm(services: ServicesDep, body: WarmRequest, request: Request) -> StreamingResponse:
    """Walk `index` and fill this process's per-document caches (NDJSON progress)."""
    target = warm_target(services.scorer)
    if target is None or services.hydrator_for is None:
        raise Conflict(f"nothing to warm: {not_warmable(services.scorer)}")
    gate = gate_of(request)
    gate.refuse_if_busy()
    total = await _index_size(services, body.index)
    gate.refuse_if_busy()  # another request may have started one while this one waited
    lines: asyncio.Queue[bytes | None] = asyncio.Queue()  # a few dozen bytes a page
    gate.index = body.index
    gate.task = asyncio.get_running_loop().create_task(
        _walk(services, target, body, total, lines), name=f"warm-{body.index}"
    )
    return StreamingResponse(_drain(lines), media_type="application/x-ndjson")


async def _drain(lines: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (line := await lines.get()) is not None:
        yield line


async def _index_size(services: Services, index: str) -> int:
    settings = services.settings
    try:
        return await index_size(settings.opensearch_url, index, settings.opensearch_timeout_s)
    except UpstreamError as exc:
        if exc.status == 404:
            raise NotFound(f"no index {index!r} in OpenSearch") from exc
        raise


async def _walk(
    services: Services,
    target: Warmable,
    body: WarmRequest,
    total: int,
    lines: asyncio.Queue[bytes | None],
) -> None:
    last = WarmProgress(0, total, 0, 0)

    def page_done(progress: WarmProgress) -> None:
        nonlocal last
        _count(services, last, progress)
        last = progress
        lines.put_nowait(
            _line({"done": progress.done, "total": progress.total, "warmed": progress.warmed})
        )

    assert services.hydrator_for is not None
    try:
        report = await walk_and_warm(
            services.settings,
            body.index,
            target,
            services.hydrator_for(body.index),
            page_size=body.page_size,
            rate=body.rate,
            progress=page_done,
            total=total,
        )
        log.info("%s", report.summary(body.index))
        lines.put_nowait(_line({"report": report.as_dict()}))
    except Exception as exc:  # the status went out with the first line: say it in the stream
        error = _describe(exc, body.index)
        log.warning("warming %r stopped after %d documents: %s", body.index, last.done, error)
        lines.put_nowait(_line({"error": error, "done": last.done}))
    finally:
        lines.put_nowait(None)


def _count(services: Services, before: WarmProgress, after: WarmProgress) -> None:
    metrics = services.metrics
    warmed = after.warmed - before.warmed
    unscorable = after.unscorable - before.unscorable
    cached = after.done - before.done - warmed - unscorable
    for outcome, count in (("warmed", warmed), ("cached", cached), ("unscorable", unscorable)):
        if count:
            metrics.child(metrics.warm_documents, outcome).inc(count)


def _describe(exc: Exception, index: str) -> dict[str, Any]:
    if isinstance(exc, UpstreamError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        reason = error.get("reason") if isinstance(error, dict) else None
        return {
            "type": "upstream_error",
            "status": exc.status,
            "reason": str(reason or f"OpenSearch answered {exc.status}"),
        }
    if isinstance(exc, TimeoutError):
        reason = f"a page of {index!r} took longer than {PAGE_TIMEOUT_S:.0f} s"
        return {"type": "timeout", "reason": reason}
    if isinstance(exc, EngineError):
        return {"type": "model_error", "reason": str(exc)}
    log.exception("warming %r failed", index, exc_info=exc)
    return {"type": "internal_error", "reason": "internal error (see the sidecar's log)"}


def _line(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload) + b"\n"
