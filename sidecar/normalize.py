"""Query normalization, applied before the score-cache key and the model.

Steps, in order:
1. Unicode NFKC (full-width "ｉＰｈｏｎｅ１５" becomes "iPhone15"), control characters to spaces.
2. A space at every boundary between latin letters and digits ("iPhone15" -> "iPhone 15") and
   between CJK and latin letters/digits ("苹果iPhone" -> "苹果 iPhone"); CJK text itself is
   never split.
3. Dictionary casing and splitting: a latin word that is, or fully splits into, known words
   takes their spelling ("iphone" -> "iPhone", "promax" -> "Pro Max"). Known words that mix
   letters and digits ("5G", "PS5") are kept whole instead of being split.
4. Whitespace collapsed to single spaces and trimmed.

The result is a fixed point: normalizing it again changes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache

DEFAULT_DICTIONARY: tuple[str, ...] = (
    # Apple
    "iPhone", "iPad", "iMac", "iPod", "AirPods", "AirTag", "MacBook", "HomePod", "Apple",
    "Watch", "Pencil",
    # Samsung, Google, others
    "Galaxy", "Note", "Fold", "Flip", "Buds", "Pixel", "Xiaomi", "Redmi", "Huawei", "Mate",
    "Honor", "OnePlus", "Oppo", "Vivo", "Nokia", "Sony", "Xperia", "PlayStation", "Xbox",
    "Nintendo", "Switch", "Kindle", "ThinkPad", "ThinkBook", "IdeaPad", "Surface", "Dell",
    "Lenovo", "GoPro", "DJI", "Dyson", "Bose", "Beats", "Nike", "Adidas",
    # model-line words
    "Pro", "Max", "Plus", "Ultra", "Mini", "Air", "Lite", "SE", "FE", "Neo", "Prime",
    # units and tech terms that read better upper-cased
    "GB", "TB", "MB", "mAh", "Hz", "USB", "HDMI", "OLED", "LED", "LCD", "SSD", "HDD", "NFC",
    "GPS", "WiFi", "Bluetooth",
    # letter-digit tokens kept whole
    "4G", "5G", "4K", "8K", "2K", "PS4", "PS5", "3D", "M1", "M2", "M3", "M4", "A17", "A18",
)  # fmt: skip

_CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x31BF),  # Bopomofo, Hangul compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK Extension A
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK Extensions B-G
)

_LATIN, _DIGIT, _CJK, _OTHER = "L", "D", "C", "O"
_WORD_CLASSES = frozenset({_LATIN, _DIGIT})
# Pairs of adjacent character classes that get a space between them (latin/digit boundaries
# are spaced while rendering words, where letter-digit dictionary words are kept whole).
_BOUNDARIES = frozenset({(_CJK, _LATIN), (_LATIN, _CJK), (_CJK, _DIGIT), (_DIGIT, _CJK)})


@lru_cache(maxsize=4096)
def _char_class(ch: str) -> str:
    if "0" <= ch <= "9":
        return _DIGIT
    code = ord(ch)
    if any(lo <= code <= hi for lo, hi in _CJK_RANGES):
        return _CJK
    if ch.isalpha() and (code < 0x250 or 0x1E00 <= code <= 0x1EFF):
        return _LATIN  # Basic Latin, Latin-1 Supplement, Latin Extended-A/B and Additional
    return _OTHER


def _is_word(text: str) -> bool:
    return bool(text) and all(_char_class(ch) in (_LATIN, _DIGIT) for ch in text)


class QueryNormalizer:
    """Normalizes query text with a dictionary of known product words.

    `dictionary` entries are added to `DEFAULT_DICTIONARY` (unless `include_defaults` is
    False); a later entry overrides the spelling of an earlier one with the same lower case.
    Entries must be latin letters and digits only (after NFKC), e.g. "iPhone" or "PS5";
    entries of digits alone have no effect. Keep it to product words: an ordinary word that
    happens to split fully into entries gets split too.
    """

    def __init__(self, dictionary: Iterable[str] = (), *, include_defaults: bool = True) -> None:
        entries = [*DEFAULT_DICTIONARY, *dictionary] if include_defaults else list(dictionary)
        self._words: dict[str, str] = {}  # lower case -> spelling, letters only
        self._mixed: dict[str, str] = {}  # lower case -> spelling, letters and digits
        for raw in entries:
            word = unicodedata.normalize("NFKC", raw).strip()
            if not _is_word(word):
                raise ValueError(
                    f"normalization dictionary entry {raw!r} must be latin letters and digits "
                    "only (no spaces, punctuation or CJK)"
                )
            has_digit = any(ch.isdigit() for ch in word)
            has_alpha = any(ch.isalpha() for ch in word)
            if has_alpha and has_digit:
                self._mixed[word.lower()] = word
            elif has_alpha:
                self._words[word.lower()] = word
        self._longest = max((len(w) for w in self._words), default=0)
        self._longest_mixed = max((len(w) for w in self._mixed), default=0)

    def __call__(self, text: str) -> str:
        """Return the normalized form of `text` (see the module docstring)."""
        text = unicodedata.normalize("NFKC", text)
        text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
        return " ".join(self._normalize_token(token) for token in text.split())

    def _normalize_token(self, token: str) -> str:
        runs = _runs(token)
        pieces: list[str] = []
        previous: str | None = None
        i = 0
        while i < len(runs):
            j = i + 1
            if runs[i][0] in _WORD_CLASSES:
                while j < len(runs) and runs[j][0] in _WORD_CLASSES:
                    j += 1
                rendered = self._join_word_runs(runs[i:j])
            else:
                rendered = runs[i][1]
            if previous is not None and (previous, runs[i][0]) in _BOUNDARIES:
                pieces.append(" ")
            pieces.append(rendered)
            previous, i = runs[j - 1][0], j
        return "".join(pieces)

    def _join_word_runs(self, runs: list[tuple[str, str]]) -> str:
        """Render alternating letter/digit runs as space-separated, dictionary-cased words."""
        parts: list[str] = []
        i = 0
        while i < len(runs):
            merged = self._match_mixed(runs, i) or self._match_tail_mixed(runs, i)
            if merged is not None:
                parts.extend(merged[0])
                i = merged[1]
                continue
            kind, text = runs[i]
            parts.append(self._case_letters(text) if kind == _LATIN else text)
            i += 1
        return " ".join(parts)

    def _match_mixed(self, runs: list[tuple[str, str]], start: int) -> tuple[list[str], int] | None:
        """Longest letter-digit dictionary word spelled by runs[start:end] (two runs or more)."""
        best: tuple[list[str], int] | None = None
        joined = ""
        for end in range(start, len(runs)):
            joined += runs[end][1]
            if len(joined) > self._longest_mixed:
                break
            if end > start and joined.lower() in self._mixed:
                best = ([self._mixed[joined.lower()]], end + 1)
        return best

    def _match_tail_mixed(
        self, runs: list[tuple[str, str]], start: int
    ) -> tuple[list[str], int] | None:
        """Known words followed by a letter-digit word that starts inside runs[start]:
        "galaxys24" -> ["Galaxy", "S24"]."""
        kind, text = runs[start]
        if kind != _LATIN or start + 1 >= len(runs):
            return None
        for cut in range(max(1, len(text) - self._longest_mixed), len(text)):
            head = _split_into_words(text[:cut].lower(), self._words, self._longest)
            if head is None:
                continue
            tail = self._match_mixed([(kind, text[cut:]), *runs[start + 1 :]], 0)
            if tail is not None:
                return [self._words[w] for w in head] + tail[0], start + tail[1]
        return None

    def _case_letters(self, word: str) -> str:
        """Spell a letter run with dictionary words if it is one or splits fully into them."""
        split = _split_into_words(word.lower(), self._words, self._longest)
        return " ".join(self._words[part] for part in split) if split else word


def _runs(token: str) -> list[tuple[str, str]]:
    """Split a whitespace-free token into maximal runs of one character class."""
    runs: list[tuple[str, str]] = []
    start = 0
    for i in range(1, len(token) + 1):
        if i == len(token) or _char_class(token[i]) != _char_class(token[start]):
            runs.append((_char_class(token[start]), token[start:i]))
            start = i
    return runs


def _split_into_words(lower: str, words: dict[str, str], longest: int) -> list[str] | None:
    """Fewest dictionary words that exactly cover `lower`, or None (dynamic programming)."""
    n = len(lower)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(1, n + 1):
        for start in range(max(0, end - longest), end):
            prefix = best[start]
            piece = lower[start:end]
            if prefix is not None and piece in words:
                candidate = [*prefix, piece]
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[n]


@lru_cache(maxsize=8)
def _normalizer(dictionary: tuple[str, ...]) -> QueryNormalizer:
    return QueryNormalizer(dictionary)


# Shoppers repeat queries, and a search normalizes its text twice (retrieval and scoring):
# remember recent results. Only short texts, so the memo stays a few MB at most.
_MEMO_MAX_CHARS = 256


@lru_cache(maxsize=4096)
def _normalized(text: str, dictionary: tuple[str, ...]) -> str:
    return _normalizer(dictionary)(text)


def normalize_query(text: str, dictionary: Iterable[str] | None = None) -> str:
    """Normalize `text` with the default dictionary plus `dictionary` (see QueryNormalizer)."""
    words = tuple(dictionary or ())
    if len(text) <= _MEMO_MAX_CHARS:
        return _normalized(text, words)
    return _normalizer(words)(text)
