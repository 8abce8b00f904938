"""Read an OpenSearch search request: the text to rerank with, paging, and `ext.rerank`.

The query text comes from `ext.rerank.query_text` when given, else from the relevance
clauses of the query (match, match_phrase, multi_match, query_string,
simple_query_string, and bool must/should recursively), else from the `q` URL parameter.
Some requests must reach OpenSearch untouched: a sort other than `_score`, scroll,
search_after, size=0, or reranking switched off. Some need OpenSearch's answer byte for byte
(`verbatim_reason`): another response format, `stored_fields`, `collapse`, `explain`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from sidecar.errors import InvalidRequest

DEFAULT_SIZE = 10
# query_string syntax: boosts and fuzziness, field prefixes, operators, special characters.
QUERY_SYNTAX = re.compile(
    r"[~^]\d*(?:\.\d+)?|\b\w+(?:\.\w+)*:|\b(?:AND|OR|NOT)\b|[+\-!(){}\[\]\"*?\\/|&]"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class RerankOptions:
    """The `ext.rerank` block of a search request."""

    query_text: str | None = None
    query_image: str | None = None  # base64 (optionally a data: URI) or an http(s) URL
    window: int | None = None
    instruction: str | None = None
    explain: bool = False
    enabled: bool = True


_OPTION_KEYS = frozenset(f.name for f in fields(RerankOptions))


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A parsed search request; `body` and `params` are what goes upstream."""

    body: dict[str, Any]
    params: dict[str, str]
    from_: int
    size: int
    options: RerankOptions
    query_text: str | None
    skip_reason: str | None  # None: rerank; else why the request passes through


def parse_search_request(body: dict[str, Any] | None, params: dict[str, str]) -> SearchRequest:
    """Split a search request into what OpenSearch sees and what the reranker needs."""
    if body is not None and not isinstance(body, dict):
        raise InvalidRequest("the search body must be a JSON object")
    upstream = dict(body or {})
    options = _pop_rerank_options(upstream)
    params = dict(params)
    from_ = _paging_value(params, upstream, "from", 0)
    size = _paging_value(params, upstream, "size", DEFAULT_SIZE)
    query_text = options.query_text or extract_query_text(upstream.get("query"))
    if not query_text and params.get("q"):
        query_text = clean_query_string(params["q"])
    skip = _skip_reason(upstream, params, options, size, query_text)
    return SearchRequest(upstream, params, from_, size, options, query_text or None, skip)


def extract_query_text(query: Any) -> str | None:
    """The user's words in an OpenSearch query DSL clause, or None when there are none."""
    parts: list[str] = []
    _collect(query, parts)
    unique = list(dict.fromkeys(p for p in (_SPACES.sub(" ", x).strip() for x in parts) if p))
    return " ".join(unique) or None


def clean_query_string(text: str) -> str:
    """Drop query_string syntax (fields, operators, quotes, boosts) and keep the words."""
    return _SPACES.sub(" ", QUERY_SYNTAX.sub(" ", text)).strip()


def _collect(clause: Any, out: list[str]) -> None:
    if not isinstance(clause, dict):
        return
    for kind, spec in clause.items():
        if kind in ("match", "match_phrase", "match_phrase_prefix", "match_bool_prefix"):
            out.extend(_field_query_texts(spec))
        elif kind == "multi_match" and isinstance(spec, dict):
            _append_str(spec.get("query"), out)
        elif kind in ("query_string", "simple_query_string") and isinstance(spec, dict):
            if isinstance(spec.get("query"), str):
                out.append(clean_query_string(spec["query"]))
        elif kind == "bool" and isinstance(spec, dict):
            for occur in ("must", "should"):
                for sub in _as_list(spec.get(occur)):
                    _collect(sub, out)
        elif kind in ("function_score", "script_score", "nested", "constant_score"):
            if isinstance(spec, dict):
                _collect(spec.get("query"), out)
        elif kind == "dis_max" and isinstance(spec, dict):
            for sub in _as_list(spec.get("queries")):
                _collect(sub, out)
        elif kind == "boosting" and isinstance(spec, dict):
            _collect(spec.get("positive"), out)


def _field_query_texts(spec: Any) -> list[str]:
    if not isinstance(spec, dict):
        return []
    texts: list[str] = []
    for value in spec.values():
        if isinstance(value, dict):
            _append_str(value.get("query"), texts)
        else:
            _append_str(value, texts)
    return texts


def _append_str(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _pop_rerank_options(body: dict[str, Any]) -> RerankOptions:
    """Remove `ext.rerank` from the body (OpenSearch rejects unknown ext) and validate it."""
    ext = body.get("ext")
    if not isinstance(ext, dict) or "rerank" not in ext:
        return RerankOptions()
    ext = dict(ext)
    raw = ext.pop("rerank")
    if ext:
        body["ext"] = ext
    else:
        body.pop("ext")
    if raw is None:
        return RerankOptions()
    if not isinstance(raw, dict):
        raise InvalidRequest("ext.rerank must be an object")
    unknown = set(raw) - _OPTION_KEYS
    if unknown:
        raise InvalidRequest(f"ext.rerank: unknown option(s) {sorted(unknown)}")
    return RerankOptions(
        query_text=_opt_str(raw, "query_text"),
        query_image=_opt_str(raw, "query_image"),
        window=_opt_int(raw, "window", minimum=1),
        instruction=_opt_str(raw, "instruction"),
        explain=_opt_bool(raw, "explain", False),
        enabled=_opt_bool(raw, "enabled", True),
    )


def _opt_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"ext.rerank.{key} must be a string")
    return value.strip() or None


def _opt_int(raw: dict[str, Any], key: str, minimum: int) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequest(f"ext.rerank.{key} must be an integer >= {minimum}")
    return value


def _opt_bool(raw: dict[str, Any], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"ext.rerank.{key} must be true or false")
    return value


def _paging_value(params: dict[str, str], body: dict[str, Any], key: str, default: int) -> int:
    """from/size: a URL parameter wins over the body, as in OpenSearch."""
    raw: Any = params.get(key, body.get(key, default))
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidRequest(f"[{key}] must be a non-negative integer") from None
    if value < 0 or isinstance(raw, bool) or (isinstance(raw, float) and raw != value):
        raise InvalidRequest(f"[{key}] must be a non-negative integer")
    return value


_BINARY_OR_YAML = ("cbor", "smile", "yaml")
# Markers of body keys that make a search verbatim: a byte scan spares parsing the rest.
_VERBATIM_BODY_KEYS = ("stored_fields", "collapse", "explain")


def request_verbatim_reason(params: Mapping[str, str], content_type: str | None) -> str | None:
    """Why a search must pass through untouched, judged from its URL and headers alone:
    an answer format other than JSON (`format=yaml|cbor|smile`), a body that is not JSON,
    or URL options whose hits a rerank would not reproduce."""
    answer_format = params.get("format")
    if answer_format is not None and answer_format.lower() != "json":
        return "format"
    if content_type and any(kind in content_type.lower() for kind in _BINARY_OR_YAML):
        return "content_type"  # the body is not JSON: OpenSearch reads it
    if "stored_fields" in params:
        return "stored_fields"
    if params.get("explain", "false").lower() != "false":
        return "explain"
    return None


def body_verbatim_reason(raw: bytes) -> str | None:
    """Why a search must pass through untouched, judged from its raw JSON body:
    `stored_fields` (hits without `_source` cannot be hydrated), `collapse` (a rerank window
    of collapsed groups), `explain` (OpenSearch's explanation of its own order). Parsed only
    when one of those words occurs in it; an unparsable body is left to the route."""
    if not any(key.encode() in raw for key in _VERBATIM_BODY_KEYS):
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return _body_verbatim(body) if isinstance(body, dict) else None


def _body_verbatim(body: dict[str, Any]) -> str | None:
    if body.get("stored_fields") is not None:
        return "stored_fields"
    if body.get("collapse") is not None:
        return "collapse"
    if body.get("explain") is True:
        return "explain"
    return None


def _skip_reason(
    body: dict[str, Any],
    params: dict[str, str],
    options: RerankOptions,
    size: int,
    query_text: str | None,
) -> str | None:
    if not options.enabled:
        return "disabled"
    verbatim = request_verbatim_reason(params, None) or _body_verbatim(body)
    if verbatim is not None:  # through the pipeline (e.g. one _msearch item): not reranked
        return verbatim
    if "scroll" in params:
        return "scroll"
    if body.get("search_after") is not None:
        return "search_after"
    if not _sorted_by_score_only(body.get("sort"), params.get("sort")):
        return "sorted"
    if size == 0:
        return "size_zero"
    if not query_text and not options.query_image:
        return "no_query"
    return None


def _sorted_by_score_only(sort: Any, sort_param: str | None) -> bool:
    """True when there is no sort, or the sort is `_score` descending alone."""
    if sort_param:
        return sort_param.replace(":desc", "") == "_score"
    if sort is None:
        return True
    items = sort if isinstance(sort, list) else [sort]
    if len(items) != 1:
        return False
    item = items[0]
    if item == "_score":
        return True
    if isinstance(item, dict) and set(item) == {"_score"}:
        order = item["_score"]
        if isinstance(order, dict):
            order = order.get("order", "desc")
        return order == "desc"
    return False
