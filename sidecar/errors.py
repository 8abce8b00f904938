"""One error tree for the service and one table from error to HTTP status."""

from __future__ import annotations

from lychee_engine.errors import EngineError, InsufficientMemory, Overloaded, UnsupportedInput


class SidecarError(Exception):
    status_code = 500
    error_type = "sidecar_exception"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidRequest(SidecarError):
    status_code = 400
    error_type = "invalid_request"


class PayloadTooLarge(SidecarError):
    status_code = 413
    error_type = "payload_too_large"


class Unauthorized(SidecarError):
    status_code = 401
    error_type = "unauthorized"


class NotFound(SidecarError):
    status_code = 404
    error_type = "not_found"


class Conflict(SidecarError):
    """The request is sound but this process's state refuses it (e.g. a warm is running)."""

    status_code = 409
    error_type = "conflict"


class TooManyRequests(SidecarError):
    status_code = 429
    error_type = "overloaded"


class UpstreamUnavailable(SidecarError):
    status_code = 502
    error_type = "upstream_unavailable"


class ModelUnavailable(SidecarError):
    status_code = 503
    error_type = "model_unavailable"


def to_sidecar_error(exc: BaseException) -> SidecarError:
    """Map engine exceptions to service errors; never leak internal text for unknown ones."""
    if isinstance(exc, SidecarError):
        return exc
    if isinstance(exc, Overloaded):
        return TooManyRequests("the model queue is full, retry later")
    if isinstance(exc, UnsupportedInput):
        err = InvalidRequest(str(exc))
        err.status_code = 422
        err.error_type = "unsupported_input"
        return err
    if isinstance(exc, InsufficientMemory):
        return ModelUnavailable(str(exc))
    if isinstance(exc, EngineError):
        return ModelUnavailable("the model failed to score this request")
    return SidecarError("internal error")
