"""Step aside: what the backend cannot judge passes through in OpenSearch's order.

A reranker that scores what it cannot read makes search worse: MiniLM gives "复古风牛仔外套"
(retro denim jacket) 0.000 against every jacket, and a threshold then empties the page.
Before anything reaches the model (or its circuit breaker), the query is checked against
the backend's capabilities (`lychee_engine.types.ScorerCapabilities`):

- a query image on a backend that does not read query images: skipped, whether or not the
  query also has text (the text alone is not what the shopper asked);
- the script rule for the query text, counting words per Unicode script (a run of Han,
  Hiragana or Katakana counts one word per two characters, since those scripts put no
  spaces between words; any other run of letters counts one word):
  * every word in a script the backend reads: scored as it is;
  * no word in one: skipped (`unreadable_script`);
  * mixed: scored on its readable part alone when that part carries the meaning, i.e.
    holds at least half of the words and a word of three or more letters
    ("牛仔外套 denim jacket" is scored as "denim jacket"); else skipped
    ("iPhone 15 手机壳": the readable part names the phone, not the case asked for);
- an instruction the backend ignores changes nothing and is reported in explain.

These are inputs, not failures: the status is `skipped` with a reason naming the limit.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lychee_engine.types import ScorerCapabilities

QUERY_IMAGE_UNSUPPORTED = "query_image_unsupported"
UNREADABLE_SCRIPT = "unreadable_script"
# Scripts written without spaces between words: a word is about two characters.
_UNSPACED = frozenset({"Han", "Hiragana", "Katakana"})
_CHARS_PER_UNSPACED_WORD = 2
_MEANINGFUL_WORD_LETTERS = 3
# Unicode name prefixes that are not a script of their own.
_NOT_A_SCRIPT = frozenset({"MODIFIER", "SUPERSCRIPT", "SUBSCRIPT", "CIRCLED", "SQUARED"})
_SCRIPT_NAMES = {"CJK": "Han"}


@dataclass(frozen=True, slots=True)
class Decision:
    """Score `text` (the part of the query the backend reads), or skip and why."""

    text: str
    reason: str | None = None  # None: score
    detail: str | None = None  # the limit in words, for explain
    notes: dict[str, Any] = field(default_factory=dict)  # explain-only facts

    @property
    def skip(self) -> bool:
        return self.reason is not None


def script_of(ch: str) -> str | None:
    """The Unicode script of a letter ("Latin", "Han", "Cyrillic", ...); None otherwise."""
    if not ch.isalpha():
        return None
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    if not first or first in _NOT_A_SCRIPT:
        return None
    if first in ("FULLWIDTH", "HALFWIDTH"):  # width forms of another script's letters
        folded = unicodedata.normalize("NFKC", ch)
        return script_of(folded[0]) if folded and folded != ch else None
    return _SCRIPT_NAMES.get(first, first.title())


def _runs(text: str) -> list[tuple[str | None, str]]:
    """Maximal runs of characters sharing a script (None: digits, spaces, punctuation)."""
    runs: list[tuple[str | None, str]] = []
    for ch in text:
        script = script_of(ch)
        if runs and runs[-1][0] == script:
            runs[-1] = (script, runs[-1][1] + ch)
        else:
            runs.append((script, ch))
    return runs


def _words(script: str, run: str) -> int:
    if script in _UNSPACED:
        return math.ceil(len(run) / _CHARS_PER_UNSPACED_WORD)
    return 1


def decide(
    text: str,
    has_query_image: bool,
    instruction: str | None,
    capabilities: ScorerCapabilities,
    model: str,
) -> Decision:
    """Whether `model` can judge this query (see the module docstring)."""
    notes: dict[str, Any] = {}
    if instruction and not capabilities.instruction:
        notes["instruction_ignored"] = f"{model} does not read instructions; it had no effect"
    if has_query_image and not capabilities.query_images:
        detail = f"{model} cannot read a query image"
        return Decision(text, QUERY_IMAGE_UNSUPPORTED, detail, notes)
    if not text or capabilities.scripts is None:
        return Decision(text, notes=notes)
    readable: Counter[str] = Counter()
    unreadable: Counter[str] = Counter()
    kept: list[str] = []
    longest = 0
    for script, run in _runs(text):
        if script is None:
            kept.append(run)
        elif capabilities.reads_script(script):
            readable[script] += _words(script, run)
            longest = max(longest, len(run))
            kept.append(run)
        else:
            unreadable[script] += _words(script, run)
            kept.append(" ")
    if not unreadable:
        return Decision(text, notes=notes)
    reads = ", ".join(sorted(capabilities.scripts))
    share = sum(readable.values()) / (sum(readable.values()) + sum(unreadable.values()))
    if share >= 0.5 and longest >= _MEANINGFUL_WORD_LETTERS:
        scored = " ".join("".join(kept).split())
        notes["query_scored_as"] = scored
        notes["query_unread"] = f"{model} reads {reads} only; the rest of the query was not scored"
        return Decision(scored, notes=notes)
    main = unreadable.most_common(1)[0][0]
    detail = f"the query is mostly in {main} script; {model} reads {reads} only"
    return Decision(text, UNREADABLE_SCRIPT, detail, notes)
