"""Writing the catalog to disk (products, judged queries, images) and reading it back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sidecar.sample_catalog.images import draw_product
from sidecar.sample_catalog.products import Product, generate_products
from sidecar.sample_catalog.queries import QUERY_SPECS, JudgedQuery, judge, validate_specs

DEFAULT_SEED: Final = 20261125
# Bump whenever the generator's output changes, so stale catalogs on disk are rebuilt.
CATALOG_VERSION: Final = "1"
STAMP_NAME: Final = "catalog.stamp.json"


@dataclass(frozen=True, slots=True)
class CatalogPaths:
    """Where a generated catalog lives."""

    root: Path
    products: Path
    queries: Path
    images: Path
    stamp: Path

    @classmethod
    def under(cls, root: str | Path) -> CatalogPaths:
        base = Path(root)
        return cls(
            root=base,
            products=base / "products.jsonl",
            queries=base / "queries.jsonl",
            images=base / "images",
            stamp=base / STAMP_NAME,
        )


def _stamp(seed: int) -> dict[str, object]:
    return {"seed": seed, "version": CATALOG_VERSION}


def is_up_to_date(paths: CatalogPaths, seed: int) -> bool:
    """True when the stamp names this seed and version and every file is present."""
    try:
        stamp = json.loads(paths.stamp.read_text())
    except (OSError, ValueError):
        return False
    if {k: stamp.get(k) for k in ("seed", "version")} != _stamp(seed):
        return False
    if not (paths.products.is_file() and paths.queries.is_file()):
        return False
    return all((paths.root / p.image_path).is_file() for p in load_products(paths.root))


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> str:
    text = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def build(seed: int = DEFAULT_SEED) -> tuple[list[Product], list[JudgedQuery]]:
    """The catalog in memory: products and their judged queries, deterministic for a seed."""
    validate_specs(QUERY_SPECS)
    products = generate_products(seed, QUERY_SPECS)
    return products, judge(QUERY_SPECS, products)


def generate_catalog(
    out_dir: str | Path, seed: int = DEFAULT_SEED, force: bool = False
) -> CatalogPaths:
    """Write products.jsonl, queries.jsonl and images/ under out_dir (skipped if up to date)."""
    paths = CatalogPaths.under(out_dir)
    if not force and is_up_to_date(paths, seed):
        return paths
    products, queries = build(seed)
    paths.images.mkdir(parents=True, exist_ok=True)
    paths.stamp.unlink(missing_ok=True)  # a crash mid-way must not leave a valid stamp
    for product in products:
        picture = draw_product(product.category, product.color, product.pattern)
        picture.save(paths.root / product.image_path, format="PNG", compress_level=6)
    digest = _write_jsonl(paths.products, [p.to_json() for p in products])
    _write_jsonl(paths.queries, [q.to_json() for q in queries])
    stamp = _stamp(seed) | {"products": len(products), "queries": len(queries), "sha256": digest}
    paths.stamp.write_text(json.dumps(stamp, indent=2) + "\n")
    return paths


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: not JSON: {exc}") from exc
    return rows


def load_products(data_dir: str | Path) -> list[Product]:
    """Products of a generated catalog, in file order."""
    path = CatalogPaths.under(data_dir).products
    if not path.is_file():
        raise FileNotFoundError(
            f"no catalog at {path}; run `python -m sidecar.sample_catalog generate` first"
        )
    return [Product.from_json(row) for row in _read_jsonl(path)]


def load_queries(data_dir: str | Path) -> list[JudgedQuery]:
    """Judged queries of a generated catalog."""
    path = CatalogPaths.under(data_dir).queries
    if not path.is_file():
        raise FileNotFoundError(f"no judged queries at {path}")
    return [JudgedQuery.from_json(row) for row in _read_jsonl(path)]
