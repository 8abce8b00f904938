"""Which requests the pass-through may forward to OpenSearch (setting `passthrough`).

- `all` (the default): everything, as a drop-in replacement for the node's address.
- `read_only`: GET and HEAD, plus the POSTs of the search family (`_search`, `_msearch`,
  `_count`, `_mget`, `_field_caps`, `_validate/query`, `_explain`, search templates,
  scroll and point-in-time, whose clean-up DELETEs are allowed too). Writes, deletes and
  cluster settings are refused with 403. Meant for storefront-facing deployments.
- an allow-list: `[{methods: [GET, POST], path: "/products/_search"}, ...]`; `path` is a
  shell-style glob (`*` also crosses `/`) matched against the path as sent, percent-encoding
  included, without the query string.

The policy judges the raw path split on `/` with each segment decoded on its own, so an
encoded slash (`_doc%2F_search`) cannot pass for a search endpoint.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from urllib.parse import unquote

from sidecar.settings import PassthroughPolicy

READ_METHODS = frozenset({"GET", "HEAD"})
# The last path segment of a search-family POST.
SEARCH_ENDPOINTS = frozenset({"_search", "_msearch", "_count", "_mget", "_field_caps", "_pit"})
# Two-segment endpoints: (second to last, last).
SEARCH_PAIRS = frozenset(
    {
        ("_search", "scroll"),
        ("_search", "template"),
        ("_msearch", "template"),
        ("_render", "template"),
        ("_search", "point_in_time"),
        ("_validate", "query"),
    }
)
# Clean-up of the contexts the search family opens: DELETE /_search/scroll[/id], the PIT.
CONTEXT_CLEANUP = frozenset({"scroll", "point_in_time", "_pit"})


def is_allowed(policy: PassthroughPolicy, method: str, raw_path: str) -> bool:
    """Whether the pass-through may forward `method raw_path` (raw: as sent, no query)."""
    if policy == "all":
        return True
    method = method.upper()
    if policy == "read_only":
        return _read_only(method, raw_path)
    return any(method in rule.methods and fnmatchcase(raw_path, rule.path) for rule in policy)


def _read_only(method: str, raw_path: str) -> bool:
    if method in READ_METHODS:
        return True
    segments = [unquote(s) for s in raw_path.split("/") if s]
    if "." in segments or ".." in segments:
        return False
    if method == "POST":
        if segments and segments[-1] in SEARCH_ENDPOINTS:
            return True
        if _explain(segments):
            return True
        # The pair ends the path, or is followed by one id (`_search/scroll/{scroll_id}`).
        return tuple(segments[-2:]) in SEARCH_PAIRS or tuple(segments[-3:-1]) in SEARCH_PAIRS
    if method == "DELETE":
        return _context_cleanup(segments)
    return False


def _explain(segments: list[str]) -> bool:
    # POST /{index}/_explain/{id}
    return len(segments) == 3 and segments[1] == "_explain"


def _context_cleanup(segments: list[str]) -> bool:
    # DELETE /_search/scroll[/{id}], /_search/point_in_time[/_all], /_pit
    if segments[:1] == ["_pit"]:
        return True
    return len(segments) >= 2 and segments[0] == "_search" and segments[1] in CONTEXT_CLEANUP
