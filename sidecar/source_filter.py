"""Client `_source` filtering on the rerank path.

The reranker reads title, selling points and image fields from `_source`, so a storefront
asking for `_source: ["id", "price"]` (or `false`) would starve it. On the rerank path
the window is fetched with the whole `_source` and the client's filter is applied here,
to the hits of its page, with OpenSearch's rules: includes then excludes, dotted paths,
`*` wildcards, objects inside arrays filtered like objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from sidecar.errors import InvalidRequest

SOURCE_PARAMS = ("_source", "_source_includes", "_source_excludes")


@dataclass(frozen=True, slots=True)
class SourceFilter:
    """What the client asked of `_source`: nothing (`enabled=False`) or a field filter."""

    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    @property
    def is_noop(self) -> bool:
        return self.enabled and not self.includes and not self.excludes

    def apply(self, hit: dict[str, Any]) -> dict[str, Any]:
        """A copy of `hit` with its `_source` filtered (or removed when disabled)."""
        if self.is_noop or "_source" not in hit:
            return hit
        out = dict(hit)
        if not self.enabled:
            del out["_source"]
        else:
            out["_source"] = _filter(out["_source"], "", self.includes, self.excludes)
        return out


def source_filter_of(body: dict[str, Any], params: dict[str, str]) -> SourceFilter:
    """The client's filter: URL parameters win over the body, as in OpenSearch."""
    if any(p in params for p in SOURCE_PARAMS):
        return _from_params(params)
    spec = body.get("_source")
    if spec is None or spec is True:
        return SourceFilter()
    if spec is False:
        return SourceFilter(enabled=False)
    if isinstance(spec, str):
        return SourceFilter(includes=(spec,))
    if isinstance(spec, list) and all(isinstance(x, str) for x in spec):
        return SourceFilter(includes=tuple(spec))
    if isinstance(spec, dict):
        includes = spec.get("includes", spec.get("include", []))
        excludes = spec.get("excludes", spec.get("exclude", []))
        return SourceFilter(includes=_patterns(includes), excludes=_patterns(excludes))
    raise InvalidRequest("[_source] must be a boolean, a string, a list or an object")


def _from_params(params: dict[str, str]) -> SourceFilter:
    source = params.get("_source")
    if source is not None and source.lower() in ("false", "true"):
        enabled = source.lower() == "true"
        source = None
    else:
        enabled = True
    includes = _split(source) + _split(params.get("_source_includes"))
    return SourceFilter(enabled, includes, _split(params.get("_source_excludes")))


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip()) if value else ()


def _patterns(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        return tuple(value)
    raise InvalidRequest("[_source] includes/excludes must be strings")


def _filter(value: Any, prefix: str, includes: tuple[str, ...], excludes: tuple[str, ...]) -> Any:
    if isinstance(value, list):
        return [_filter(v, prefix, includes, excludes) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, child in value.items():
        path = f"{prefix}{key}"
        if _matches(path, excludes):
            continue
        if not includes or _matches(path, includes):
            out[key] = _filter(child, f"{path}.", (), excludes)
        elif isinstance(child, dict | list) and _may_match_below(path, includes):
            kept = _filter(child, f"{path}.", includes, excludes)
            if _non_empty(kept):
                out[key] = kept
    return out


def _non_empty(value: Any) -> bool:
    if isinstance(value, list):
        return any(_non_empty(v) for v in value)
    return bool(value)


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(path, p) for p in patterns)


def _may_match_below(path: str, patterns: tuple[str, ...]) -> bool:
    return any(p.startswith(f"{path}.") or "*" in p for p in patterns)
