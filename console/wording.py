"""What the sidecar reports, said in words a merchandiser reads without the API docs.

Pure functions (no Streamlit), so every sentence is tested without drawing a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from console.models import RemovedHit, SearchResult

# The sidecar's reason codes (`rerank.reason`) and what they mean for the page shown.
REASONS: dict[str, str] = {
    # The request itself asks for OpenSearch's order.
    "disabled": "reranking was switched off for this request",
    "index_disabled": "reranking is switched off for this index in the sidecar's configuration",
    "scroll": "the request pages with a scroll, which keeps OpenSearch's order",
    "search_after": "the request pages with search_after, which keeps OpenSearch's order",
    "sorted": "the results are sorted by a field (price, date…), not by relevance",
    "size_zero": "the request asked for no hits",
    "no_query": "the request has no query text the model could judge",
    "beyond_window": (
        "this page lies below the top results the model reranks; deeper pages keep "
        "OpenSearch's order"
    ),
    # The model could not judge this query (step aside).
    "image_only": "the query is an image and this model reads text only",
    "query_image_unsupported": "the query carries an image and this model reads text only",
    "image_unsupported": "the query carries an image and this model reads text only",
    "unsupported_script": "the query is written in a script this model cannot read",
    "unreadable_script": "the query is written in a script this model cannot read",
    "script": "the query is written in a script this model cannot read",
    "language": "the query is in a language this model cannot read",
    "query_image_error": "the query image could not be read",
    # The model was in trouble (degraded or partial).
    "timeout": "the model did not answer in time",
    "overloaded": "the model was busy with other searches",
    "breaker_open": "the model failed several times in a row and is being given a rest",
    "engine_error": "the model failed on this query",
}

Tone = Literal["success", "info", "warning"]


@dataclass(frozen=True, slots=True)
class Banner:
    tone: Tone
    text: str


def reason_words(reason: str | None) -> str:
    """The sentence for a reason code. A code may carry a detail after a colon
    (`unsupported_script: Han`); an unknown code is shown as words, never dropped."""
    if not reason:
        return "the sidecar gave no reason"
    code, _, detail = reason.partition(":")
    code, detail = code.strip(), detail.strip()
    words = REASONS.get(code)
    if words is None:
        words = next((text for key, text in REASONS.items() if key in code), None)
    if words is None:
        return f"the sidecar reports “{reason.replace('_', ' ')}”"
    return f"{words} ({detail})" if detail else words


def banner(result: SearchResult) -> Banner:
    """The status line above the reranked column."""
    why = reason_words(result.reason)
    if result.detail:
        why = f"{why} — {result.detail}"
    removed = _removed_note(result)
    if result.status == "ok":
        return Banner("success", f"Reranked: the model put these results in order.{removed}")
    if result.status == "partial":
        depth = f"the top {result.depth} results" if result.depth is not None else "the top results"
        return Banner(
            "warning",
            f"Partially reranked: the model ordered {depth}; the rest keep OpenSearch's "
            f"order. Why: {why}.{removed}",
        )
    if result.status == "skipped":
        return Banner(
            "info",
            f"Not reranked (skipped): OpenSearch's order is shown as is; thresholds and "
            f"boosts don't apply. Why: {why}.",
        )
    if result.status == "degraded":
        return Banner(
            "warning",
            f"Not reranked (model trouble): OpenSearch's order is kept; thresholds and boosts "
            f"are off, hides and pins still apply. Why: {why}.",
        )
    return Banner("info", "Not reranked: the answer carried no rerank report.")


def _removed_note(result: SearchResult) -> str:
    count = len(result.removed)
    if not count:
        return ""
    hits = "hit" if count == 1 else "hits"
    return f" Rules removed {count} {hits} from the reranked results (greyed below)."


# Notes the sidecar adds to the rerank block with explain, and how to introduce them.
_NOTE_LABELS = {
    "instruction_ignored": "Instruction",
    "query_scored_as": "The model scored the query as",
    "query_unread": "Not read",
}


def _labelled(key: str, labels: Mapping[str, str], text: str) -> str:
    """`Label: text`; a key without a label (a newer sidecar's) is shown as words."""
    return f"{labels.get(key) or key.replace('_', ' ').capitalize()}: {text}"


def note_lines(notes: Mapping[str, str]) -> list[str]:
    """The explain notes, one line each, known ones labelled (`query_scored_as` quoted)."""
    return [
        _labelled(key, _NOTE_LABELS, f"“{value}”" if key == "query_scored_as" else value)
        for key, value in notes.items()
    ]


def removal_words(hit: RemovedHit) -> str:
    """Why a hit is off the page, e.g. `below min_score` or `hidden by rule hide-x`."""
    rule = hit.removed_by
    if rule is None:
        return "removed by the rules"
    if rule.replace("-", "_") == "min_score" or rule.startswith("min_score"):
        return "final score below the minimum score (min_score)"
    return f"removed by rule {rule}"


def score_words(hit: RemovedHit) -> str:
    parts = []
    if hit.final_score is not None:
        parts.append(f"final score {hit.final_score:.3f}")
    if hit.model_score is not None:
        parts.append(f"model {hit.model_score:.3f}")
    earlier = hit.rules_fired[:-1]
    if earlier:
        parts.append("other rules: " + ", ".join(earlier))
    return " · ".join(parts)


# What `/readyz` publishes under `capabilities`, labelled for people. Unknown keys are shown
# as they come, so a newer sidecar's capability is never hidden.
_CAPABILITY_LABELS = {
    "images": "Images",
    "query_images": "Query images",
    "scripts": "Scripts it reads",
    "languages": "Languages",
    "instruction": "Instruction",
}


def capability_lines(capabilities: Mapping[str, Any]) -> list[str]:
    """One line per capability, e.g. `Images: no (text only)`."""
    return [
        _labelled(key, _CAPABILITY_LABELS, _capability_value(key, value))
        for key, value in capabilities.items()
    ]


def _capability_value(key: str, value: Any) -> str:
    if key == "images" and isinstance(value, bool):
        return "yes, it looks at product pictures" if value else "no (text only)"
    if key == "query_images" and isinstance(value, bool):
        return "yes" if value else "no (a search with a picture keeps OpenSearch's order)"
    if key == "instruction" and isinstance(value, bool):
        return "followed" if value else "ignored by this model"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "none"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_capability_value(str(k), v)}" for k, v in value.items())
    return str(value)


def instruction_ignored(capabilities: Mapping[str, Any] | None) -> bool:
    """True when the backend says it ignores the instruction."""
    return capabilities is not None and capabilities.get("instruction") is False
