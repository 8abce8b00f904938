"""Retrieval: one OpenSearch (or Elasticsearch 7.x) `_search` through opensearch-py's async client.

Errors keep OpenSearch's own status and JSON body so the sidecar can return them unchanged;
when OpenSearch cannot be reached the body is synthesised in the same shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
from opensearchpy.exceptions import ConnectionTimeout, TransportError

from connectors.errors import UpstreamError
from connectors.orjson_serializer import OrjsonSerializer


class SearchBackend(Protocol):
    """Runs one search request and returns the raw response body."""

    async def search(
        self,
        index: str | None,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The OpenSearch response as a dict; raise UpstreamError on any failure.

        `headers` are the caller's own (e.g. Authorization), sent upstream unchanged.
        """
        ...

    async def close(self) -> None: ...


_GENERATION_FILTER = ",".join(
    [
        "indices.*.uuid",
        "_all.total.refresh.external_total",
        "_all.total.indexing.index_total",
        "_all.total.indexing.delete_total",
    ]
)


def error_body(status: int, error_type: str, reason: str) -> dict[str, Any]:
    """An error body in OpenSearch's shape, for failures OpenSearch did not report itself."""
    return {"error": {"type": error_type, "reason": reason}, "status": status}


class OpenSearchSearch:
    """SearchBackend over `AsyncOpenSearch` (aiohttp transport, pooled connections, orjson)."""

    def __init__(
        self, url: str, request_timeout: float = 30.0, *, max_retries: int = 0, pool_size: int = 32
    ) -> None:
        """`url` may carry credentials (`https://user:pass@host:9200`)."""
        self._timeout = request_timeout
        self._client = AsyncOpenSearch(
            hosts=[url],
            timeout=request_timeout,
            max_retries=max_retries,
            retry_on_timeout=False,
            maxsize=pool_size,
            serializer=OrjsonSerializer(),  # the stdlib json dominated the client's CPU
        )

    async def search(
        self,
        index: str | None,
        body: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        query = dict(params or {})
        # opensearch-py would otherwise take a search's own `timeout` param as its client
        # timeout; an explicit request_timeout leaves `timeout` for OpenSearch.
        query["request_timeout"] = self._timeout
        with upstream_errors(self._timeout):
            response: dict[str, Any] = await self._client.search(
                index=index or None,
                body=body,
                params=query,
                headers=dict(headers) if headers else None,
            )
        return response

    async def generation(self, index: str | None) -> str:
        """A token that changes whenever what a search of `index` can see may have changed.

        Searches see the index as of its last refresh, so the token is the count of refreshes
        visible to searches, plus write counts and the concrete indices' UUIDs (a deleted and
        recreated index starts its counters again). Any failure raises UpstreamError.
        """
        with upstream_errors(self._timeout):
            stats = await self._client.indices.stats(
                index=index or None,
                metric="refresh,indexing",
                params={"filter_path": _GENERATION_FILTER, "request_timeout": self._timeout},
            )
        total = (stats.get("_all") or {}).get("total") or {}
        uuids = sorted(str(v.get("uuid")) for v in (stats.get("indices") or {}).values())
        refresh = (total.get("refresh") or {}).get("external_total")
        indexing = total.get("indexing") or {}
        parts = [*uuids, refresh, indexing.get("index_total"), indexing.get("delete_total")]
        return "/".join(str(p) for p in parts)

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._client.close()


@contextmanager
def upstream_errors(timeout: float) -> Iterator[None]:
    """opensearch-py's exceptions as UpstreamError in OpenSearch's error shape."""
    try:
        yield
    except ConnectionTimeout as exc:
        reason = f"OpenSearch did not answer within {timeout}s"
        raise UpstreamError(504, error_body(504, "upstream_timeout", reason)) from exc
    except OpenSearchConnectionError as exc:
        reason = "cannot connect to OpenSearch"
        raise UpstreamError(503, error_body(503, "upstream_unavailable", reason)) from exc
    except TransportError as exc:
        raise _upstream_error(exc) from exc


def _upstream_error(exc: TransportError) -> UpstreamError:
    status = exc.status_code if isinstance(exc.status_code, int) else 502
    if isinstance(exc.info, dict):
        return UpstreamError(status, exc.info)
    # OpenSearch answered without a JSON body (a proxy in front of it, say).
    reason = str(exc.error)[:500] if exc.error else f"HTTP {status}"
    return UpstreamError(status, error_body(status, "upstream_error", reason))
