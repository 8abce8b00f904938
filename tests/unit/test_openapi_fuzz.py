"""Property-based fuzzing of our own routes from their OpenAPI spec (schemathesis).

The sidecar runs with a fake instant scorer behind a real uvicorn server; schemathesis
generates valid and invalid requests for `/api/rerank`, `/api/score` and `/v1/rerank`.
Checks: never a 5xx, and every response matches the schema declared for its status. The
routes declare our error body (`ErrorBody`) for every error status they answer, so errors
are checked against the shape we promise, straight from the app's own spec.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from connectors.score_cache import LruScoreCache
from lychee_engine.types import Document, Query
from sidecar.app import create_app
from sidecar.embedded_server import serve_in_thread
from sidecar.settings import LimitSettings, Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 100  # per operation, plus the coverage phase: ~35 s on a loaded 2-core box
OPERATIONS = ("/api/rerank", "/api/score", "/v1/rerank")
ERROR_STATUSES = ("400", "401", "413", "422", "429", "503")


class HashScorer:
    """Instant, deterministic scores in [0, 1]; reads images (so image inputs are fuzzed)."""

    model_id = "hash"
    revision = "1"
    supports_images = True

    async def score(
        self, query: Query, documents: list[Document], instruction: str | None = None
    ) -> list[float]:
        return [(hash((query.text, d.text, d.image)) % 1000) / 999 for d in documents]

    async def close(self) -> None:
        return None


def _app() -> Any:
    limits = LimitSettings(max_documents=20, max_text_chars=400, max_query_chars=80)
    # Fuzzed image URLs must never leave the machine: nothing is allowed but a dead host.
    images = {"allowed_hosts": ["fuzz.invalid"], "total_timeout_s": 0.5}
    return create_app(
        Settings(limits=limits, images=images),  # type: ignore[arg-type]
        scorer=HashScorer(),  # type: ignore[arg-type]
        cache=LruScoreCache(1000),
        search=object(),
    )


def our_operations(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with only the operations fuzzed here (the rest proxy to OpenSearch)."""
    return {**spec, "paths": {p: ops for p, ops in spec["paths"].items() if p in OPERATIONS}}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_in_thread(_app()) as url:
        yield url


# FastAPI builds the spec without starting the app; the lazy `from_fixture` loader does not
# work with pytest 9, so the schema is loaded at import (cheap: no server, no model).
schema = schemathesis.openapi.from_dict(our_operations(_app().openapi()))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a failure here is reproducible
)
def test_no_5xx_and_responses_match_the_spec(case: Any, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url, checks=[not_a_server_error, response_schema_conformance]
    )


def test_the_spec_declares_our_error_body() -> None:
    spec = schema.raw_schema
    assert set(spec["paths"]) == set(OPERATIONS)
    body_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path in OPERATIONS:
        responses = spec["paths"][path]["post"]["responses"]
        for status in ERROR_STATUSES:
            assert responses[status]["content"]["application/json"]["schema"] == body_ref
    components = spec["components"]["schemas"]
    assert components["ErrorBody"]["required"] == ["error"]
    assert set(components["ErrorDetail"]["required"]) == {"type", "reason"}
    assert components["ErrorDetail"]["additionalProperties"] is False
