"""Normalization before retrieval: OpenSearch searches for the normalized query text.

The sidecar reranks with the normalized text; OpenSearch must retrieve with it too, or a
full-width "ｒｅｔｒｏ　ｄｅｎｉｍ　ｊａｃｋｅｔ" finds nothing for the reranker to rank. The
text is replaced in the clauses the query text is read from (sidecar/query_extract.py):
match, match_phrase, match_phrase_prefix, match_bool_prefix, multi_match, query_string
and simple_query_string, wherever they sit (bool clauses of every occurrence, function
and script score, nested, constant_score, dis_max, boosting), and in the `q` parameter.

query_string syntax survives: the string is NFKC-folded as a whole (full-width operators
become ASCII), then only the plain words are normalized; a token carrying syntax (a field
prefix, an operator, a boost, a wildcard) keeps its NFKC form.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from sidecar.query_extract import QUERY_SYNTAX

Normalizer = Callable[[str], str]
_MATCH_KINDS = ("match", "match_phrase", "match_phrase_prefix", "match_bool_prefix")
_STRING_KINDS = ("query_string", "simple_query_string")
_BOOL_OCCURS = ("must", "should", "filter", "must_not")


def normalize_clauses(query: Any, normalize: Normalizer) -> Any:
    """A copy of the query DSL `query` with its user text normalized (the input is kept)."""
    if not isinstance(query, dict):
        return query
    out: dict[str, Any] = {}
    for kind, spec in query.items():
        out[kind] = _clause(kind, spec, normalize)
    return out


def normalize_query_string(text: str, normalize: Normalizer) -> str:
    """query_string / `q` text with its plain words normalized and its syntax intact."""
    folded = unicodedata.normalize("NFKC", text)
    return " ".join(
        token if QUERY_SYNTAX.search(token) else normalize(token) for token in folded.split()
    )


def _clause(kind: str, spec: Any, normalize: Normalizer) -> Any:
    if not isinstance(spec, dict):
        return spec
    if kind in _MATCH_KINDS:
        return {field: _field_query(value, normalize) for field, value in spec.items()}
    if kind == "multi_match":
        return _with_text(spec, "query", normalize)
    if kind in _STRING_KINDS:
        return _with_text(spec, "query", lambda t: normalize_query_string(t, normalize))
    if kind == "bool":
        return {
            key: _nested(value, normalize) if key in _BOOL_OCCURS else value
            for key, value in spec.items()
        }
    if kind in ("function_score", "script_score", "nested", "constant_score"):
        return {
            key: normalize_clauses(value, normalize) if key in ("query", "filter") else value
            for key, value in spec.items()
        }
    if kind == "dis_max":
        return {k: _nested(v, normalize) if k == "queries" else v for k, v in spec.items()}
    if kind == "boosting":
        return {
            key: normalize_clauses(value, normalize) if key in ("positive", "negative") else value
            for key, value in spec.items()
        }
    return spec


def _nested(value: Any, normalize: Normalizer) -> Any:
    if isinstance(value, list):
        return [normalize_clauses(item, normalize) for item in value]
    return normalize_clauses(value, normalize)


def _field_query(value: Any, normalize: Normalizer) -> Any:
    if isinstance(value, str):
        return normalize(value)
    if isinstance(value, dict):
        return _with_text(value, "query", normalize)
    return value


def _with_text(spec: dict[str, Any], key: str, normalize: Normalizer) -> dict[str, Any]:
    value = spec.get(key)
    if not isinstance(value, str):
        return spec
    return {**spec, key: normalize(value)}
