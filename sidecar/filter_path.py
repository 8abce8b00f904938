"""OpenSearch's `filter_path`, applied to the response the sidecar builds itself.

The rerank path fetches the whole window (the reranker reads `_source`), so the client's
`filter_path` is applied here: comma-separated dotted paths, `*` within a name, `**` for any
number of levels, arrays are transparent, `-path` excludes (after the inclusions). What the
filter looked inside and left empty is dropped (`{}` when nothing matches); a fully matched
subtree is kept as it is and shared with the input, not copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sidecar.errors import InvalidRequest

_ANY_LEVELS = "**"
_MISSING: Any = object()  # "nothing left here", distinct from a kept None


@dataclass(frozen=True, slots=True)
class _Glob:
    """A field name with `*` wildcards, matched in linear time: a regex of `.*` runs backtracks
    exponentially (`*a*a*a...b` took 12 s for one key), and the spec comes from the client."""

    parts: tuple[str, ...]  # the name split on `*`: at least two parts

    def matches(self, key: str) -> bool:
        first, *middle, last = self.parts
        end = len(key) - len(last)
        if end < len(first) or not key.startswith(first) or not key.endswith(last):
            return False
        pos = len(first)
        for part in middle:  # leftmost match of each piece in turn is enough for `*` globs
            found = key.find(part, pos, end)
            if found < 0:
                return False
            pos = found + len(part)
        return True


Segment = str | _Glob  # `**`, a literal field name, or a `*` glob
Path = tuple[Segment, ...]
State = tuple[int, int]  # (path index, number of segments matched so far)


@dataclass(frozen=True, slots=True)
class _Matcher:
    paths: tuple[Path, ...]

    @staticmethod
    def of(paths: list[Path]) -> _Matcher | None:
        return _Matcher(tuple(paths)) if paths else None

    def step(self, states: frozenset[State], key: str) -> frozenset[State]:
        moved: list[State] = []
        for i, pos in states:
            if pos == len(self.paths[i]):
                continue
            seg = self.paths[i][pos]
            if seg == _ANY_LEVELS:
                moved.append((i, pos))  # `**` swallows this key and may swallow more
            elif seg == key if isinstance(seg, str) else seg.matches(key):
                moved.append((i, pos + 1))
        return self._closure(moved)

    def complete(self, states: frozenset[State]) -> bool:
        return any(pos == len(self.paths[i]) for i, pos in states)

    def _closure(self, states: Iterable[State]) -> frozenset[State]:
        # `**` also matches zero levels, so a state sitting on it is also past it.
        out: set[State] = set()
        for i, pos in states:
            out.add((i, pos))
            while pos < len(self.paths[i]) and self.paths[i][pos] == _ANY_LEVELS:
                pos += 1
                out.add((i, pos))
        return frozenset(out)

    def filter(self, value: Any, states: frozenset[State], include: bool) -> Any:
        """`value` with the paths kept (include) or removed; `_MISSING` if nothing is left."""
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, child in value.items():
                nxt = self.step(states, key)
                if self.complete(nxt):
                    if include:
                        out[key] = child
                elif nxt:
                    kept = self.filter(child, nxt, include)
                    if kept is not _MISSING:
                        out[key] = kept
                elif not include:
                    out[key] = child
            return out if out else _MISSING
        if isinstance(value, list):
            items = [self.filter(v, states, include) for v in value]
            kept_items = [v for v in items if v is not _MISSING]
            return kept_items if kept_items else _MISSING
        # A scalar where the path wants to go deeper: not a match, so not an exclusion either.
        return _MISSING if include else value

    def run(self, response: dict[str, Any], include: bool) -> dict[str, Any]:
        states = self._closure((i, 0) for i in range(len(self.paths)))
        if self.complete(states):  # e.g. `**`: the whole response matches
            return dict(response) if include else {}
        kept = self.filter(response, states, include)
        return {} if kept is _MISSING else kept


@dataclass(frozen=True, slots=True)
class FilterPath:
    includes: _Matcher | None
    excludes: _Matcher | None

    def apply(self, response: dict[str, Any]) -> dict[str, Any]:
        """A new dict with only what `filter_path` keeps; `response` is not modified."""
        out = dict(response) if self.includes is None else self.includes.run(response, True)
        return out if self.excludes is None else self.excludes.run(out, False)


@lru_cache(maxsize=256)
def compile_filter_path(spec: str) -> FilterPath:
    """Parse a `filter_path` value; empty entries are ignored as OpenSearch does."""
    includes: list[Path] = []
    excludes: list[Path] = []
    for entry in (raw.strip() for raw in spec.split(",")):
        if entry:
            target = excludes if entry.startswith("-") else includes
            target.append(_parse_path(entry.removeprefix("-").strip(), entry))
    return FilterPath(_Matcher.of(includes), _Matcher.of(excludes))


def _parse_path(path: str, entry: str) -> Path:
    names = path.split(".")
    if any(not n for n in names):
        raise InvalidRequest(f"[filter_path] entry [{entry}] has an empty field name")
    return tuple(_segment(n) for n in names)


def _segment(name: str) -> Segment:
    if name == _ANY_LEVELS or "*" not in name:
        return name
    return _Glob(tuple(name.split("*")))
