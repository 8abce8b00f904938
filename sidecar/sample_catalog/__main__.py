"""Command line: `generate` the sample catalog, or `index` it into OpenSearch."""

from __future__ import annotations

import argparse
import sys
import time

from opensearchpy.exceptions import OpenSearchException

from sidecar.sample_catalog.catalog import DEFAULT_SEED, generate_catalog
from sidecar.sample_catalog.indexing import index_catalog


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sidecar.sample_catalog")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write products, judged queries and images")
    gen.add_argument("--out", default="data/catalog", help="output directory")
    gen.add_argument("--seed", type=int, default=DEFAULT_SEED)
    gen.add_argument("--force", action="store_true", help="rebuild even if up to date")
    idx = commands.add_parser("index", help="create the index and bulk-load the catalog")
    idx.add_argument("--url", default="http://127.0.0.1:9200")
    idx.add_argument("--index", default="products")
    idx.add_argument("--data", default="data/catalog", help="a generated catalog directory")
    idx.add_argument("--recreate", action="store_true", help="delete the index first")
    idx.add_argument("--image-base", default=None, help="URL prefix for image_url fields")
    idx.add_argument("--timeout", type=float, default=30.0, help="request timeout, seconds")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    if args.command == "generate":
        paths = generate_catalog(args.out, seed=args.seed, force=args.force)
        print(f"catalog ready in {paths.root} ({time.perf_counter() - started:.1f}s)")
        return 0
    try:
        count = index_catalog(
            args.url,
            args.index,
            args.data,
            recreate=args.recreate,
            image_base=args.image_base,
            timeout_s=args.timeout,
        )
    except (OpenSearchException, FileNotFoundError, ValueError) as exc:
        print(f"indexing failed: {exc}", file=sys.stderr)
        return 1
    print(f"indexed {args.index} at {args.url}: {count} documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
