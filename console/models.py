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
    beyond_window: bool = False  # below the rerank window (or the scored depth): BM25 order
    final_score: float | None = None  # when the sidecar reports it apart from `_score`


@dataclass(frozen=True, slots=True)
class Hit:
    """One search hit as the preview shows it."""

    id: str
    title: str
    score: float | None
    image_name: str | None
    explain: RerankExplain | None


@dataclass(frozen=True, slots=True)
class RemovedHit:
    """A window hit the rules took off the page (below min_score, or hidden), with the rules
    that fired on it; the rule that removed it is the last one (rules fire in order)."""

    id: str
    index: str
    title: str
    model_score: float | None
    final_score: float | None
    rules_fired: list[str]

    @property
    def removed_by(self) -> str | None:
        return self.rules_fired[-1] if self.rules_fired else None


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: list[Hit]
    # ok | partial | degraded | skipped; None when the response had no rerank block
    status: str | None
    reason: str | None = None  # why partial, degraded or skipped: the sidecar's code
    timings_ms: dict[str, float] = field(default_factory=dict)
    cache_hits: int | None = None
    took_ms: int | None = None
    depth: int | None = None  # partial: how many of the top hits the model scored
    removed: list[RemovedHit] = field(default_factory=list)
    model: str | None = None
    detail: str | None = None  # the sidecar's own sentence on why it skipped
    # Explain-only facts, e.g. `instruction_ignored`, `query_scored_as`, `query_unread`.
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    detail: str
    # What the backend can judge, as `/readyz` publishes it (None: an older sidecar).
    capabilities: dict[str, Any] | None = None


def parse_readiness(ready: bool, body: Any) -> Readiness:
    """`/readyz` body: `{status, checks: {model: "ok (id)", opensearch: "ok"}}`; when ready
    the detail is the model, otherwise the checks that failed."""
    if not isinstance(body, dict):
        return Readiness(ready, "")
    found = body.get("capabilities")
    capabilities = found if isinstance(found, dict) else None
    checks = body.get("checks")
    error = body.get("error")
    if isinstance(error, dict):
        return Readiness(ready, str(error.get("reason") or error.get("type") or ""), capabilities)
    if not isinstance(checks, dict):
        return Readiness(ready, str(body.get("model") or ""), capabilities)
    if ready:
        model = str(checks.get("model", ""))
        return Readiness(True, model.removeprefix("ok (").removesuffix(")"), capabilities)
    failing = [
        f"{part}: {state}" for part, state in checks.items() if not str(state).startswith("ok")
    ]
    detail = ", ".join(failing) or str(body.get("status", "not ready"))
    return Readiness(False, detail, capabilities)


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
        beyond_window=bool(raw.get("beyond_window")),
        final_score=_float(raw.get("final_score")),
    )


def _removed(raw: Any) -> list[RemovedHit]:
    """`rerank.removed`; entries of another shape are left out rather than failing the page."""
    if not isinstance(raw, list):
        return []
    removed = []
    for item in raw:
        if not isinstance(item, dict) or "_id" not in item:
            continue
        doc_id = str(item["_id"])
        removed.append(
            RemovedHit(
                id=doc_id,
                index=str(item.get("_index") or ""),
                title=str(item.get("title") or doc_id),
                model_score=_float(item.get("model_score")),
                final_score=_float(item.get("final_score")),
                rules_fired=[str(rule) for rule in item.get("rules_fired") or []],
            )
        )
    return removed


# The rerank block's fields the preview shows in their own places; any other plain value is a
# note (instruction ignored, part of the query not read...) shown under the banner.
_RERANK_FIELDS = frozenset(
    {"status", "reason", "detail", "depth", "timings_ms", "cache_hits", "model", "removed"}
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
    found_timings = rerank.get("timings_ms")
    timings = {
        str(stage): float(ms)
        for stage, ms in (found_timings.items() if isinstance(found_timings, dict) else ())
        if isinstance(ms, int | float)
    }
    cache_hits = rerank.get("cache_hits")
    depth = rerank.get("depth")
    notes = {
        str(key): str(value)
        for key, value in rerank.items()
        if key not in _RERANK_FIELDS and isinstance(value, str | int | float) and value != ""
    }
    return SearchResult(
        hits=hits,
        status=rerank.get("status"),
        reason=str(rerank["reason"]) if rerank.get("reason") else None,
        timings_ms=timings,
        cache_hits=int(cache_hits) if isinstance(cache_hits, int) else None,
        took_ms=body.get("took") if isinstance(body.get("took"), int) else None,
        depth=depth if isinstance(depth, int) else None,
        removed=_removed(rerank.get("removed")),
        model=str(rerank["model"]) if rerank.get("model") else None,
        detail=str(rerank["detail"]) if rerank.get("detail") else None,
        notes=notes,
    )
