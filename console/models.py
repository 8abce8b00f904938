"""What the console sends to and reads from the sidecar, parsed into small typed records."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a pair (query or document): text, image bytes, or both."""

    text: str = ""
    image: bytes | None = None

    @property
    def empty(self) -> bool:
        return not self.text.strip() and not self.image

    def to_json(self) -> dict[str, str]:
        body: dict[str, str] = {}
        if self.text.strip():
            body["text"] = self.text
        if self.image:
            body["image"] = base64.b64encode(self.image).decode("ascii")
        return body


@dataclass(frozen=True, slots=True)
class Fragment:
    """A span of the document text and the score change measured when it is removed."""

    text: str
    start: int
    end: int
    impact: float


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float
    band: str
    fragments: list[Fragment]


@dataclass(frozen=True, slots=True)
class RerankRow:
    index: int
    document: str
    score: float
    band: str


@dataclass(frozen=True, slots=True)
class RerankExplain:
    model_score: float | None
    original_score: float | None
    band: str | None
    rules_fired: list[str]
    cached: bool
    image_error: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """One search hit as the preview shows it."""

    id: str
    title: str
    score: float | None
    image_name: str | None
    explain: RerankExplain | None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    status: str | None  # ok | degraded | skipped; None when the response had no rerank block
    reason: str | None = None  # why degraded or skipped, as the sidecar words it
    timings_ms: dict[str, float] = field(default_factory=dict)
    cache_hits: int | None = None
    took_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    detail: str


def parse_readiness(ready: bool, body: Any) -> Readiness:
    """`/readyz` body: `{status, checks: {model: "ok (id)", opensearch: "ok"}}`; when ready
    the detail is the model, otherwise the checks that failed."""
    if not isinstance(body, dict):
        return Readiness(ready, "")
    checks = body.get("checks")
    error = body.get("error")
    if isinstance(error, dict):
        return Readiness(ready, str(error.get("reason") or error.get("type") or ""))
    if not isinstance(checks, dict):
        return Readiness(ready, str(body.get("model") or ""))
    if ready:
        model = str(checks.get("model", ""))
        return Readiness(True, model.removeprefix("ok (").removesuffix(")"))
    failing = [
        f"{part}: {state}" for part, state in checks.items() if not str(state).startswith("ok")
    ]
    return Readiness(False, ", ".join(failing) or str(body.get("status", "not ready")))


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def parse_score(body: dict[str, Any]) -> ScoreResult:
    fragments = [
        Fragment(str(f["text"]), int(f["start"]), int(f["end"]), float(f["impact"]))
        for f in body.get("fragments") or []
    ]
    return ScoreResult(float(body["score"]), str(body.get("band", "")), fragments)


def parse_rerank(body: dict[str, Any]) -> list[RerankRow]:
    rows = []
    for item in body["results"]:
        document = item.get("document")
        text = document.get("text", "") if isinstance(document, dict) else str(document or "")
        rows.append(RerankRow(int(item["index"]), text, float(item["score"]), str(item["band"])))
    return rows


def _image_name(source: dict[str, Any]) -> str | None:
    # The sample catalog stores `images/p0001.png`; the sidecar serves it by its file name.
    path = source.get("image_path") or source.get("image_url")
    if not isinstance(path, str) or not path.strip():
        return None
    return PurePosixPath(path.split("?", 1)[0]).name or None


def _explain(raw: Any) -> RerankExplain | None:
    if not isinstance(raw, dict):
        return None
    return RerankExplain(
        model_score=_float(raw.get("model_score")),
        original_score=_float(raw.get("original_score")),
        band=raw.get("band"),
        rules_fired=[str(rule) for rule in raw.get("rules_fired") or []],
        cached=bool(raw.get("cached")),
        image_error=str(raw["image_error"]) if raw.get("image_error") else None,
    )


def parse_search(body: dict[str, Any]) -> SearchResult:
    hits = []
    for raw in body.get("hits", {}).get("hits", []):
        source = raw.get("_source") or {}
        title = source.get("title") or source.get("name") or raw.get("_id", "")
        hits.append(
            Hit(
                id=str(raw.get("_id", "")),
                title=str(title),
                score=_float(raw.get("_score")),
                image_name=_image_name(source),
                explain=_explain(raw.get("_rerank")),
            )
        )
    found = body.get("rerank")
    rerank: dict[str, Any] = found if isinstance(found, dict) else {}
    timings = {str(k): float(v) for k, v in (rerank.get("timings_ms") or {}).items()}
    cache_hits = rerank.get("cache_hits")
    return SearchResult(
        hits=hits,
        status=rerank.get("status"),
        reason=str(rerank["reason"]) if rerank.get("reason") else None,
        timings_ms=timings,
        cache_hits=int(cache_hits) if isinstance(cache_hits, int) else None,
        took_ms=body.get("took") if isinstance(body.get("took"), int) else None,
    )
