"""The one error the console shows: a sidecar failure turned into a sentence for a person."""

from __future__ import annotations

from enum import StrEnum

import httpx


class ErrorKind(StrEnum):
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    GPU_MEMORY = "gpu_memory"
    MODEL_UNAVAILABLE = "model_unavailable"
    OVERLOADED = "overloaded"
    TOO_LARGE = "too_large"
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    UPSTREAM = "upstream"
    UNEXPECTED = "unexpected"


class ConsoleError(Exception):
    """A failed sidecar call; `message` is what the page shows, `kind` lets it pick a style."""

    def __init__(self, kind: ErrorKind, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """`(type, reason)` of an `{error: {type, reason}}` body; otherwise `("", a short slice
    of whatever came back)`."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:300].strip()
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("type") or ""), str(error.get("reason") or error.get("type") or "")
        if isinstance(error, str):
            return "", error
        if "detail" in body:  # FastAPI's own validation errors
            return "", str(body["detail"])[:300]
    return "", str(body)[:300]


def _is_memory_reason(reason: str) -> bool:
    lowered = reason.lower()
    return "memory" in lowered or "oom" in lowered.split()


def from_response(response: httpx.Response) -> ConsoleError:
    """Map a non-2xx sidecar answer to a ConsoleError with a user-facing message."""
    status = response.status_code
    error_type, reason = _error_fields(response)
    reason = reason or response.reason_phrase
    if status in (401, 403):
        kind, text = ErrorKind.UNAUTHORIZED, "The sidecar refused the key: check SIDECAR_API_KEY."
    elif status == 413:
        kind, text = ErrorKind.TOO_LARGE, f"Input too large: {reason}"
    elif status in (400, 422):
        kind, text = ErrorKind.INVALID, f"Invalid input: {reason}"
    elif status == 429:
        kind, text = ErrorKind.OVERLOADED, "The model is busy (queue full). Retry in a moment."
    elif status in (502, 504) or error_type == "upstream_unavailable":
        kind, text = ErrorKind.UPSTREAM, f"OpenSearch is unavailable: {reason}"
    elif status == 503 and _is_memory_reason(reason):
        kind, text = ErrorKind.GPU_MEMORY, f"The GPU lacks memory for the model: {reason}"
    elif status == 503:
        kind, text = ErrorKind.MODEL_UNAVAILABLE, f"The model is unavailable: {reason}"
    else:
        kind, text = ErrorKind.UNEXPECTED, f"The sidecar answered HTTP {status}: {reason}"
    return ConsoleError(kind, text, status)


def from_transport(exc: httpx.TransportError, base_url: str) -> ConsoleError:
    """Map a connection-level failure (refused, DNS, timeout) to a ConsoleError."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return ConsoleError(
            ErrorKind.TIMEOUT,
            f"The sidecar at {base_url} did not answer in time. "
            "The model may be loading or overloaded; retry, or send fewer documents.",
        )
    return ConsoleError(
        ErrorKind.UNREACHABLE,
        f"The sidecar at {base_url} is unavailable ({type(exc).__name__}). "
        "Start it, or point SIDECAR_URL at it.",
    )
