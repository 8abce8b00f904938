"""Nesting depth is measured without recursion, at any depth orjson parses (issue 14, 4)."""

from __future__ import annotations

import orjson
import pytest

from sidecar.errors import InvalidRequest
from sidecar.json_depth import check_answer_depth, json_depth, too_deep


def test_depth_of_scalars_objects_and_lists() -> None:
    assert json_depth(3) == 0
    assert json_depth({}) == 1 and json_depth([]) == 1
    assert json_depth({"a": [1, {"b": None}], "c": 2}) == 3


def test_a_thousand_levels_are_measured_without_recursion() -> None:
    deep = orjson.loads("[" * 1000 + "]" * 1000)
    assert json_depth(deep) == 1000
    assert too_deep(deep, 200) and not too_deep(deep, 1000)


def test_an_answer_too_deep_to_embed_names_the_limit() -> None:
    with pytest.raises(InvalidRequest, match="max_json_depth"):
        check_answer_depth(orjson.loads("[" * 300 + "]" * 300), 198)
    check_answer_depth({"hits": {"hits": []}}, 198)
