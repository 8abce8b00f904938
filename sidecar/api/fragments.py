"""Split a document's text into fragments and build the text without each one.

Fragments follow how catalog documents are written: selling points joined by " | " (or
on separate lines, or after ";"), then sentences within them; a text that is one
sentence is split into phrases at commas. Offsets index the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_FRAGMENTS = 24
_POINTS = re.compile(r"\s*(?:\|+|\n+|;|•|·)\s*")
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s+")
_PHRASES = re.compile(r"\s*[,，、]\s*")


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int


def fragment_spans(text: str, limit: int = MAX_FRAGMENTS) -> list[Span]:
    """Non-overlapping spans of the fragments of `text`, in order, at most `limit`."""
    spans = [s for p in _split(text, Span(0, len(text)), _POINTS) for s in _sentences(text, p)]
    if len(spans) == 1:
        spans = _split(text, spans[0], _PHRASES)
    return _merge_tail(spans, limit)


def without(text: str, spans: list[Span], k: int) -> str:
    """`text` with fragment `k` and one separator next to it removed."""
    cut_start, cut_end = spans[k].start, spans[k].end
    if k + 1 < len(spans):
        cut_end = spans[k + 1].start  # drop the separator that follows
    elif k > 0:
        cut_start = spans[k - 1].end  # the last fragment: drop the separator before it
    return (text[:cut_start] + text[cut_end:]).strip()


def _sentences(text: str, span: Span) -> list[Span]:
    return _split(text, span, _SENTENCES)


def _split(text: str, span: Span, pattern: re.Pattern[str]) -> list[Span]:
    pieces: list[Span] = []
    start = span.start
    for match in pattern.finditer(text, span.start, span.end):
        pieces.append(Span(start, match.start()))
        start = match.end()
    pieces.append(Span(start, span.end))
    return [t for t in (_trim(text, p) for p in pieces) if t.end > t.start]


def _trim(text: str, span: Span) -> Span:
    start, end = span.start, span.end
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)


def _merge_tail(spans: list[Span], limit: int) -> list[Span]:
    """Keep at most `limit` fragments: the last one absorbs the rest."""
    if len(spans) <= limit:
        return spans
    return [*spans[: limit - 1], Span(spans[limit - 1].start, spans[-1].end)]
