"""`python -m sidecar warm --via URL`: ask a running sidecar to warm itself (`POST
/api/warm`) and show the NDJSON progress it streams back as a progress bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from tqdm import tqdm

from sidecar.warm import WarmReport

CONNECT_TIMEOUT_S = 10.0


def warm_via(
    url: str,
    index: str,
    *,
    page_size: int = 200,
    rate: float | None = None,
    progress: bool = True,
    timeout_s: float = 660.0,
    api_key: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Exit status: 0 with the report printed, 2 when the sidecar has nothing to warm or is
    warming already (409), 1 for any other failure (named on stderr)."""
    headers = {"accept": "application/x-ndjson"}
    key = api_key or os.environ.get("LYCHEE_API_KEY")
    if key:
        headers["x-api-key"] = key
    body = {"index": index, "page_size": page_size, "rate": rate}
    # `timeout_s` bounds each wait for the next line: a page (images, the vision tower) may
    # take minutes on a loaded model, the whole walk much longer.
    timeout = httpx.Timeout(timeout_s, connect=CONNECT_TIMEOUT_S)
    try:
        with (
            httpx.Client(base_url=url, timeout=timeout, transport=transport) as client,
            client.stream("POST", "/api/warm", json=body, headers=headers) as answer,
        ):
            if answer.status_code != 200:
                answer.read()
                print(f"warm: {url} refused: {_reason(answer)}", file=sys.stderr)
                return 2 if answer.status_code == 409 else 1
            return _render(answer.iter_lines(), index, progress)
    except httpx.TimeoutException:
        print(f"warm: {url} sent nothing for {timeout_s:.0f} s", file=sys.stderr)
    except httpx.HTTPError as exc:
        print(f"warm: cannot talk to {url}: {exc}", file=sys.stderr)
    return 1


def _render(lines: Iterator[str], index: str, progress: bool) -> int:
    with tqdm(unit="doc", disable=not progress, file=sys.stderr) as bar:
        for line in lines:
            if not line.strip():
                continue
            try:
                message: dict[str, Any] = orjson.loads(line)
            except orjson.JSONDecodeError:
                print(f"warm: not a progress line: {line[:200]!r}", file=sys.stderr)
                return 1
            if "report" in message:
                bar.close()
                print(WarmReport(**message["report"]).summary(index))
                return 0
            if "error" in message:
                bar.close()
                error = message["error"]
                reason = error.get("reason", error) if isinstance(error, dict) else error
                done = message.get("done", bar.n)
                print(f"warm: failed after {done} documents: {reason}", file=sys.stderr)
                return 1
            bar.total = message.get("total", bar.total)
            bar.update(int(message.get("done", bar.n)) - bar.n)
    print("warm: the sidecar ended the stream without a report", file=sys.stderr)
    return 1


def _reason(answer: httpx.Response) -> str:
    try:
        error = answer.json().get("error", {})
        return f"{answer.status_code} {error.get('type', '')}: {error.get('reason', answer.text)}"
    except (ValueError, AttributeError):
        return f"{answer.status_code} {answer.text[:200]}"
