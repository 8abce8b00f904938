"""Typed dependencies shared by the routes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request

from sidecar.errors import TooManyRequests, Unauthorized
from sidecar.services import Services


# async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
# hop per request that cost more than the whole warm search path's own work.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_api_key(
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """When `settings.api_key` is set, /api and /v1 need it in X-API-Key or as a Bearer token
    (Cohere and Jina clients send `Authorization: Bearer`)."""
    expected = services.settings.api_key
    if not expected:
        return
    given = x_api_key
    if given is None and authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    if given is None or not secrets.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("a valid API key is required (X-API-Key header)")


async def model_slot(services: ServicesDep) -> AsyncIterator[None]:
    """Hold one in-flight slot for the request; 429 when none is free."""
    with services.limiter.slot() as acquired:
        if not acquired:
            raise TooManyRequests("too many requests in flight, retry later")
        yield


# Body size is capped for every route by sidecar.limits.BodyLimitMiddleware.
API_GUARDS = [Depends(require_api_key), Depends(model_slot)]
