"""OrjsonSerializer: the stdlib serializer's results, and its error type."""

from __future__ import annotations

import json
import uuid
from datetime import date

import numpy as np
import pytest
from opensearchpy.exceptions import SerializationError

from connectors.orjson_serializer import OrjsonSerializer


def test_round_trip_matches_the_stdlib() -> None:
    body = {"query": {"match": {"title": "chaussures d'été ☀"}}, "size": 50, "min_score": 0.5}
    raw = OrjsonSerializer().dumps(body)
    assert json.loads(raw) == body
    assert OrjsonSerializer().loads(raw) == body
    assert OrjsonSerializer().loads(raw.decode()) == body


def test_strings_and_bytes_pass_through() -> None:
    assert OrjsonSerializer().dumps('{"a":1}') == '{"a":1}'
    assert OrjsonSerializer().dumps(b'{"a":1}') == b'{"a":1}'


def test_values_the_stdlib_serializer_handles() -> None:
    ident = uuid.UUID(int=7)
    data = {1: date(2024, 5, 1), "id": ident, "v": np.float32(0.5), "n": np.int64(3)}
    assert json.loads(OrjsonSerializer().dumps(data)) == {
        "1": "2024-05-01",
        "id": str(ident),
        "v": 0.5,
        "n": 3,
    }


def test_huge_integers_fall_back_to_the_stdlib_encoder() -> None:
    assert json.loads(OrjsonSerializer().dumps({"big": 2**70})) == {"big": 2**70}


def test_errors_are_serialization_errors() -> None:
    with pytest.raises(SerializationError):
        OrjsonSerializer().loads("{not json")
    with pytest.raises(SerializationError):
        OrjsonSerializer().dumps({"x": object()})
