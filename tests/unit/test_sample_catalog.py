"""The sample catalog: deterministic, big enough, judged consistently, pictures that agree."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sidecar.sample_catalog import (
    QUERY_KINDS,
    CatalogPaths,
    Product,
    build,
    generate_catalog,
    load_products,
    load_queries,
)
from sidecar.sample_catalog.__main__ import main
from sidecar.sample_catalog.images import SIZE, dominant_color, draw_product, pattern_ink
from sidecar.sample_catalog.indexing import index_body
from sidecar.sample_catalog.queries import (
    QUERY_SPECS,
    JudgedQuery,
    QuerySpec,
    grade,
    validate_specs,
)
from sidecar.sample_catalog.vocabulary import PHRASE_BANKS, color_rgb


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> CatalogPaths:
    return generate_catalog(tmp_path_factory.mktemp("catalog"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_same_catalog_other_seed_differs() -> None:
    first, second, other = build(7), build(7), build(8)
    assert first == second
    assert [p.title for p in first[0]] != [p.title for p in other[0]]


def test_files_are_identical_across_runs(catalog: CatalogPaths, tmp_path: Path) -> None:
    again = generate_catalog(tmp_path)
    for name in ("products.jsonl", "queries.jsonl", "images/p0001.png", "images/p0360.png"):
        assert _sha(catalog.root / name) == _sha(again.root / name), name


def test_counts_categories_and_query_kinds(catalog: CatalogPaths) -> None:
    products, queries = load_products(catalog.root), load_queries(catalog.root)
    assert len(products) >= 300
    assert len({p.id for p in products}) == len(products)
    assert len({p.category for p in products}) >= 6
    assert len(queries) >= 40
    assert {q.kind for q in queries} == set(QUERY_KINDS)
    assert any(p.sales > 1000 for p in products)
    assert all(2 <= len(p.selling_points) <= 4 for p in products)


def test_every_judgment_names_a_product_and_every_query_has_an_exact_match(
    catalog: CatalogPaths,
) -> None:
    ids = {p.id for p in load_products(catalog.root)}
    for query in load_queries(catalog.root):
        assert set(query.judgments) <= ids, query.qid
        assert set(query.judgments.values()) <= {1, 2, 3}, query.qid
        assert 3 in query.judgments.values(), query.qid


def test_every_attribute_is_stated_in_the_listing() -> None:
    products, _ = build()
    for product in products:
        text = " ".join((product.title, *product.selling_points)).lower()
        attrs = {a: getattr(product, a) for a in ("color", "style", "scenario", "material")}
        if product.pattern != "solid":
            attrs["pattern"] = product.pattern
        stated = [(a, v) for a, v in attrs.items()] + [("feature", f) for f in product.features]
        for attr, value in stated:
            phrases = PHRASE_BANKS[attr][value]
            assert any(p.lower() in text for p in phrases), (product.id, attr, value, text)


def _product(**changes: object) -> Product:
    base = Product(
        id="p9999", title="t", selling_points=("a", "b"), brand="b", price=1.0, sales=1,
        rating=4.0, category="jacket", color="blue", pattern="solid", style="retro",
        scenario="hiking", material="denim", features=("waterproof",), image_path="x.png",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_grades_follow_the_intent() -> None:
    spec = QuerySpec("t", "retro denim jacket", "style", ("jacket",), {"style": "retro",
                     "material": "denim"})  # fmt: skip
    assert grade(spec, _product()) == 3
    assert grade(spec, _product(style="minimalist")) == 2
    assert grade(spec, _product(style="minimalist", material="wool")) == 1
    assert grade(spec, _product(category="mug")) == 0
    feature = QuerySpec("f", "windproof jacket", "function", ("jacket",), {"feature": "windproof"})
    assert grade(feature, _product(features=("waterproof", "windproof"))) == 3
    assert grade(feature, _product()) == 1


def test_specs_that_ask_for_impossible_values_are_rejected() -> None:
    validate_specs(QUERY_SPECS)
    with pytest.raises(ValueError, match="cannot have"):
        validate_specs([QuerySpec("x", "silk mug", "style", ("mug",), {"material": "silk"})])


def test_images_agree_with_colour_and_pattern(catalog: CatalogPaths) -> None:
    for product in load_products(catalog.root):
        picture = Image.open(catalog.root / product.image_path).convert("RGB")
        assert picture.size == (SIZE, SIZE)
        base = color_rgb(product.color)
        assert dominant_color(picture) == base, product.id
        colours = {rgb for _, rgb in picture.getcolors(SIZE * SIZE) or []}
        assert (pattern_ink(base) in colours) == (product.pattern != "solid"), product.id


def test_red_picture_is_reddish_and_silhouettes_differ() -> None:
    red, green, blue = dominant_color(draw_product("mug", "red", "striped"))
    assert red > 150 and green < 80 and blue < 80
    mug, lamp = draw_product("mug", "navy", "solid"), draw_product("lamp", "navy", "solid")
    assert mug.tobytes() != lamp.tobytes()
    with pytest.raises(ValueError, match="silhouette"):
        draw_product("sofa", "red", "solid")


def test_up_to_date_catalog_is_not_rewritten(catalog: CatalogPaths) -> None:
    paths = catalog
    before = paths.products.stat().st_mtime_ns
    assert generate_catalog(paths.root).products.stat().st_mtime_ns == before
    stamp = json.loads(paths.stamp.read_text())
    paths.stamp.write_text(json.dumps(stamp | {"version": "0"}))
    generate_catalog(paths.root)  # a stale stamp means a rebuild
    assert json.loads(paths.stamp.read_text())["version"] == stamp["version"]


def test_bad_records_and_missing_catalog_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad product record"):
        Product.from_json({"id": "p1", "title": "x"})
    with pytest.raises(ValueError, match="unknown kind"):
        JudgedQuery.from_json({"qid": "q", "text": "t", "kind": "mood", "judgments": {}})
    with pytest.raises(FileNotFoundError, match="generate"):
        load_products(tmp_path)


def test_mapping_analyses_text_in_english_and_keeps_facets_exact() -> None:
    fields = index_body()["mappings"]["properties"]
    assert fields["title"]["analyzer"] == fields["selling_points"]["analyzer"] == "english"
    assert {fields[f]["type"] for f in ("brand", "category", "color")} == {"keyword"}
    assert fields["sales"]["type"] == "integer" and fields["price"]["type"] == "float"


def test_cli_generate_and_index_errors(
    catalog: CatalogPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--out", str(catalog.root)]) == 0
    assert "catalog ready" in capsys.readouterr().out
    assert main(["index", "--data", str(tmp_path), "--url", "http://127.0.0.1:9"]) == 1
    assert "indexing failed" in capsys.readouterr().err
