"""Hits per page through the sidecar, as a storefront pages them (issue 13's table).

    python benchmarks/paging_table.py --sidecar http://127.0.0.1:8080 \
        --opensearch http://127.0.0.1:9200 "dress" "retro denim jacket"

For each query: OpenSearch's own total, the sidecar's `hits.total` on page 1, the number of
hits on each page of 10 (through opensearch-py, until `from` passes both totals, at most
`--max-pages`), and whether the paging contract held (no duplicate, no empty page before
the total, the pages adding up to it, the same total and no rising `_score` throughout).
"""

from __future__ import annotations

import argparse
from typing import Any

from opensearchpy import OpenSearch

FIELDS = ["title^2", "selling_points"]


def _search(client: OpenSearch, index: str, text: str, from_: int, size: int) -> dict[str, Any]:
    body = {
        "query": {"multi_match": {"query": text, "fields": FIELDS}},
        "from": from_,
        "size": size,
    }
    response: dict[str, Any] = client.search(index=index, body=body)
    return response


def page_sizes(
    client: OpenSearch, index: str, text: str, size: int, upto: int, max_pages: int
) -> tuple[int, list[int], bool]:
    """(sidecar total, hits per page, contract held) for one query."""
    first = _search(client, index, text, 0, size)
    total = first["hits"]["total"]["value"]
    pages = [first]
    limit = min(max(total, upto), size * max_pages)
    for from_ in range(size, limit, size):
        pages.append(_search(client, index, text, from_, size))
    seen: list[str] = []
    last = float("inf")
    held = True
    for number, page in enumerate(pages):
        hits = page["hits"]["hits"]
        held &= page["hits"]["total"]["value"] == total
        held &= len(hits) == max(0, min(size, total - number * size))
        for hit in hits:
            held &= hit["_score"] <= last
            last = hit["_score"]
        seen.extend(hit["_id"] for hit in hits)
    held &= len(seen) == len(set(seen)) and (len(seen) == total or limit < total)
    return total, [len(p["hits"]["hits"]) for p in pages], held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sidecar", required=True)
    parser.add_argument("--opensearch", required=True)
    parser.add_argument("--index", default="products")
    parser.add_argument("--size", type=int, default=10)
    parser.add_argument("--max-pages", type=int, default=8)
    parser.add_argument("queries", nargs="+")
    args = parser.parse_args(argv)
    sidecar = OpenSearch(hosts=[args.sidecar], timeout=120)
    direct = OpenSearch(hosts=[args.opensearch], timeout=60)
    print("| query | OpenSearch total | sidecar total | hits per page of 10 | contract |")
    print("|---|---|---|---|---|")
    for text in args.queries:
        upstream = _search(direct, args.index, text, 0, 0)["hits"]["total"]["value"]
        total, sizes, held = page_sizes(
            sidecar, args.index, text, args.size, upstream, args.max_pages
        )
        row = ", ".join(map(str, sizes))
        print(f"| {text} | {upstream} | {total} | {row} | {'holds' if held else 'BROKEN'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
