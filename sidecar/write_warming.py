"""Warm the per-document caches for documents written through the proxy.

After OpenSearch acknowledged a `_doc`/`_create`/`_update` or `_bulk` write (2xx), the
written ids are queued; one background worker reads their current `_source` with a
real-time `_mget` (the write need not be refreshed yet, and an `_update` is read whole),
hydrates them as a search would and warms the scorer with them (a bi-encoder embeds what
its cache lacks; Lychee preprocesses and vision-encodes their images in this process). Off
the request path and bounded: at most `max_pending` ids wait, more are dropped (the first
search warms them, as without warming); a failure only skips that batch. Bodies that
streamed (larger than the proxy's buffered size) are not parsed; documents indexed without
an `_id` are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import Any
from urllib.parse import unquote

import orjson

log = logging.getLogger(__name__)
Fetch = Callable[[str, list[str], dict[str, str]], Awaitable[list[dict[str, Any]]]]
Warm = Callable[[str, list[dict[str, Any]]], Awaitable[int]]
_SINGLE = ("_doc", "_create", "_update")
_WRITES = ("index", "create", "update")
_BATCH = 200  # ids per _mget


def written_ids(method: str, target: str, body: bytes | None) -> list[tuple[str, str]]:
    """(index, id) of the documents a successful write request wrote."""
    path = target.split("?", 1)[0]
    parts = [unquote(p) for p in path.strip("/").split("/") if p]
    if method not in ("PUT", "POST") or not parts:
        return []
    if len(parts) == 3 and parts[1] in _SINGLE and not parts[0].startswith("_"):
        return [(parts[0], parts[2])]
    if parts[-1] == "_bulk" and len(parts) <= 2 and body:
        default = parts[0] if len(parts) == 2 else None
        return _bulk_ids(body, default)
    return []


def _bulk_ids(body: bytes, default_index: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    lines = iter(body.splitlines())
    for line in lines:
        if not line.strip():
            continue
        try:
            action = orjson.loads(line)
        except orjson.JSONDecodeError:
            return out  # not our business: OpenSearch already answered it
        if not isinstance(action, dict) or len(action) != 1:
            return out
        ((kind, meta),) = action.items()
        if kind != "delete":
            next(lines, None)  # the document (or update) line
        if kind in _WRITES and isinstance(meta, dict):
            index, doc_id = meta.get("_index", default_index), meta.get("_id")
            if isinstance(index, str) and isinstance(doc_id, str | int):
                out.append((index, str(doc_id)))
    return out


class WriteWarmer:
    """A bounded queue of written ids and the one task that warms them."""

    def __init__(self, fetch: Fetch, warm: Warm, max_pending: int = 10_000) -> None:
        self._fetch = fetch
        self._warm = warm
        self._max_pending = max_pending
        self._pending: dict[tuple[str, str], dict[str, str]] = {}  # (index, id) -> auth
        self._wake = asyncio.Event()
        self._done = asyncio.Event()  # set while nothing waits or runs
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.warmed = 0

    def written(self, method: str, target: str, body: bytes | None, auth: dict[str, str]) -> None:
        """Queue what a 2xx write wrote; never blocks, never raises."""
        try:
            ids = written_ids(method, target, body)
        except Exception as exc:  # a malformed body: OpenSearch judged it already
            log.debug("write not parsed for warming: %r", exc)
            return
        for key in ids:
            if len(self._pending) >= self._max_pending and key not in self._pending:
                self.dropped += 1
                continue
            self._pending[key] = auth
        if ids:
            self._done.clear()
            if self._task is None or self._task.done():
                self._task = asyncio.get_running_loop().create_task(self._run())
            self._wake.set()

    async def idle(self) -> None:
        """Wait until everything queued so far was warmed (tests, shutdown)."""
        if self._task is not None and not self._task.done():
            await self._done.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            while self._pending:
                batch = list(islice(self._pending.items(), _BATCH))
                for key, _ in batch:
                    del self._pending[key]
                await self._warm_batch(batch)
            self._wake.clear()
            self._done.set()

    async def _warm_batch(self, batch: list[tuple[tuple[str, str], dict[str, str]]]) -> None:
        by_index: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
        for (index, doc_id), auth in batch:
            by_index.setdefault((index, tuple(sorted(auth.items()))), []).append(doc_id)
        for (index, headers), ids in by_index.items():
            try:
                hits = await self._fetch(index, ids, dict(headers))
                self.warmed += await self._warm(index, hits) if hits else 0
            except Exception as exc:  # warming is best effort; the search embeds instead
                log.warning("warming %d written documents of %r failed: %r", len(ids), index, exc)
