"""Service fixtures: a real OpenSearch node and a real Redis for integration tests.

Everything here is lazy: a run that requests none of these fixtures starts nothing.
`TEST_OPENSEARCH_URL` / `TEST_REDIS_URL` point the URL fixtures at running services instead.
Fault tests use `opensearch_server` / `redis_server`, which always control a process of
their own (an external service can't be stopped), restarted on the same port.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import TypeVar

import pytest
from opensearchpy import OpenSearch

from tests.service_procs import OpenSearchServer, RedisServer, ServiceProcess, free_port

OPENSEARCH_REQUEST_TIMEOUT_S = 30
_Server = TypeVar("_Server", bound=ServiceProcess)


@pytest.fixture(scope="session")
def _opensearch_session_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OpenSearchServer]:
    server = OpenSearchServer(free_port(), tmp_path_factory.mktemp("opensearch"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _redis_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


def _restart_after_test(server: _Server) -> Iterator[_Server]:
    yield server
    # A fault test that failed midway must not leave later tests without the service.
    if not server.running:
        server.start()


@pytest.fixture
def opensearch_server(_opensearch_session_server: OpenSearchServer) -> Iterator[OpenSearchServer]:
    """The managed OpenSearch node, for tests that stop and start it (`.stopped()`)."""
    yield from _restart_after_test(_opensearch_session_server)


@pytest.fixture
def redis_server(_redis_session_server: RedisServer) -> Iterator[RedisServer]:
    """The managed Redis, for tests that stop and start it (`.stopped()`)."""
    yield from _restart_after_test(_redis_session_server)


@pytest.fixture(scope="session")
def opensearch_url(request: pytest.FixtureRequest) -> str:
    """Base URL of a green OpenSearch node: `TEST_OPENSEARCH_URL` or a managed node."""
    external = os.environ.get("TEST_OPENSEARCH_URL")
    if external:
        return external.rstrip("/")
    server: OpenSearchServer = request.getfixturevalue("_opensearch_session_server")
    return server.url


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """URL of a Redis: `TEST_REDIS_URL` or a managed server."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        return external
    server: RedisServer = request.getfixturevalue("_redis_session_server")
    return server.url


@pytest.fixture(scope="session")
def opensearch_client(opensearch_url: str) -> Iterator[OpenSearch]:
    """A synchronous opensearch-py client for test setup and checks."""
    client = OpenSearch(hosts=[opensearch_url], timeout=OPENSEARCH_REQUEST_TIMEOUT_S)
    yield client
    client.close()


@pytest.fixture(scope="module")
def os_index(request: pytest.FixtureRequest, opensearch_client: OpenSearch) -> Iterator[str]:
    """A fresh, uniquely named index (1 shard, 0 replicas) for one test module."""
    module = re.sub(r"[^a-z0-9]+", "-", request.module.__name__.rsplit(".", 1)[-1].lower())
    name = f"test-{module}-{uuid.uuid4().hex[:8]}"
    opensearch_client.indices.create(
        index=name,
        body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}},
        request_timeout=OPENSEARCH_REQUEST_TIMEOUT_S,
    )
    yield name
    opensearch_client.indices.delete(
        index=name, ignore_unavailable=True, request_timeout=OPENSEARCH_REQUEST_TIMEOUT_S
    )
