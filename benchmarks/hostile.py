"""The hostile side of `make loadtest` (issue 14): clients that try to hurt the others.

Each actor runs beside the normal clients for the whole hostile phase and records what the
sidecar answered it; the normal clients' figures are what must hold (no errors, p95 within
3x of the quiet phase, >= 95% of searches `ok` or `partial`).

- slowloris: connections that send a header line every few seconds and never finish;
- slow bodies: `POST _count` announcing 100 bytes and sending one;
- oversized headers: a 100 KB header on `_count`, a 20 KB `X-Opaque-Id` on `_search`;
- image-only searches (a query image and no text: a text model cannot judge them);
- `_msearch` of 100 searches with window 1000 (the limit) and with window 50 (cold queries);
- `/api/rerank` with images of varied sizes and colours.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

SLOWLORIS = 50
SLOW_BODIES = 70
DRIP_S = 5.0  # a slowloris header line, or nothing, this often


@dataclass(slots=True)
class HostileTally:
    """What each hostile actor was answered (HTTP status, or how its connection ended)."""

    outcomes: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, actor: str, outcome: str) -> None:
        self.outcomes.setdefault(actor, Counter())[outcome] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {actor: dict(counts) for actor, counts in sorted(self.outcomes.items())}


def png(rng: random.Random) -> str:
    """A base64 PNG of random size and colour (each a new image for the model)."""
    size = (rng.randint(32, 512), rng.randint(32, 512))
    color = tuple(rng.randrange(256) for _ in range(3))
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


async def run_hostile(url: str, index: str, seconds: float, tally: HostileTally) -> None:
    """Every actor at once for `seconds`; connections still open at the end are closed."""
    stop = asyncio.Event()
    actors = [
        *(_slowloris(url, tally, stop) for _ in range(SLOWLORIS)),
        *(_slow_body(url, index, tally, stop) for _ in range(SLOW_BODIES)),
        _oversized_headers(url, index, tally, stop),
        _image_only_searches(url, index, tally, stop),
        _big_msearch(url, index, tally, stop),
        _image_reranks(url, tally, stop),
    ]
    tasks = [asyncio.create_task(actor) for actor in actors]
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _raw_connection(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def _hold(
    actor: str,
    url: str,
    head: bytes,
    drip: bytes,
    tally: HostileTally,
    stop: asyncio.Event,
) -> None:
    """Send `head`, then `drip` every DRIP_S until the server closes or the phase ends."""
    try:
        reader, writer = await _raw_connection(url)
    except OSError as exc:
        tally.add(actor, f"connect:{type(exc).__name__}")
        return
    try:
        writer.write(head)
        await writer.drain()
        while not stop.is_set():
            with suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(200), DRIP_S)
                status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else ""
                tally.add(actor, f"answered {status}" if answer else "closed by server")
                return
            if drip:
                writer.write(drip)
                await writer.drain()
        tally.add(actor, "still open at the end")
    except OSError:
        tally.add(actor, "closed by server")
    finally:
        writer.close()
        with suppress(OSError):
            await writer.wait_closed()


async def _slowloris(url: str, tally: HostileTally, stop: asyncio.Event) -> None:
    host = urlsplit(url).netloc.encode()
    head = b"GET /healthz HTTP/1.1\r\nHost: " + host + b"\r\n"
    await _hold("slowloris", url, head, b"X-Slow: 1\r\n", tally, stop)


async def _slow_body(url: str, index: str, tally: HostileTally, stop: asyncio.Event) -> None:
    host = urlsplit(url).netloc.encode()
    head = (
        f"POST /{index}/_count HTTP/1.1\r\nHost: ".encode()
        + host
        + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    await _hold("slow_body", url, head, b"", tally, stop)


async def _oversized_headers(
    url: str, index: str, tally: HostileTally, stop: asyncio.Event
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            for actor, method, path, headers in (
                ("header_100kb", "GET", f"/{index}/_count", {"X-Big": "a" * 100_000}),
                ("opaque_id_20kb", "POST", f"/{index}/_search", {"X-Opaque-Id": "o" * 20_000}),
            ):
                await _call(client, actor, tally, method, path, headers=headers, json={})
            await _pause(stop, 1.0)


async def _image_only_searches(
    url: str, index: str, tally: HostileTally, stop: asyncio.Event
) -> None:
    rng = random.Random(5)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            body = {"query": {"match_all": {}}, "ext": {"rerank": {"query_image": png(rng)}}}
            await _call(client, "image_only_search", tally, "POST", f"/{index}/_search", json=body)
            await _pause(stop, 0.5)


async def _big_msearch(url: str, index: str, tally: HostileTally, stop: asyncio.Event) -> None:
    rng = random.Random(9)
    words = ["jacket", "mug", "shoes", "lamp", "dress", "bag", "watch", "chair", "toy", "sofa"]
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while not stop.is_set():
            for actor, window in (("msearch_100x1000", 1000), ("msearch_100x50", 50)):
                lines: list[dict[str, Any]] = []
                for _ in range(100):
                    text = f"{rng.choice(words)} {rng.choice(words)} q{rng.getrandbits(32):x}"
                    query = {"multi_match": {"query": text, "fields": ["title", "selling_points"]}}
                    rerank = {"window": window, "explain": True}
                    lines += [{}, {"query": query, "size": 10, "ext": {"rerank": rerank}}]
                content = "".join(json.dumps(line) + "\n" for line in lines)
                headers = {"Content-Type": "application/x-ndjson"}
                response = await _call(
                    client, actor, tally, "POST", f"/{index}/_msearch", content=content,
                    headers=headers,
                )  # fmt: skip
                if response is not None and response.status_code == 200:
                    for item in response.json().get("responses", []):
                        status = (item.get("rerank") or {}).get("status", item.get("status"))
                        tally.add(f"{actor} items", str(status))


async def _image_reranks(url: str, tally: HostileTally, stop: asyncio.Event) -> None:
    rng = random.Random(13)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while not stop.is_set():
            documents = [{"text": f"product {i}", "image": png(rng)} for i in range(4)]
            body = {"query": {"text": "red jacket", "image": png(rng)}, "documents": documents}
            await _call(client, "rerank_images", tally, "POST", "/api/rerank", json=body)
            await _pause(stop, 1.0)


async def _call(
    client: httpx.AsyncClient, actor: str, tally: HostileTally, method: str, path: str,
    **kwargs: Any,
) -> httpx.Response | None:  # fmt: skip
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        tally.add(actor, type(exc).__name__)
        return None
    rerank = response.headers.get("X-Rerank-Status")
    tally.add(actor, f"{response.status_code}:{rerank}" if rerank else str(response.status_code))
    return response


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
