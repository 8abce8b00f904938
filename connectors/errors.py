"""Errors raised by the connectors. The sidecar maps them onto its own error tree."""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base class of every connector error."""


class ImageFetchError(ConnectorError):
    """An image could not be obtained; `reason` is short and safe to show to an operator."""

    code = "image_error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def describe(self) -> str:
        """One line for logs and `HydratedDoc.image_error`, e.g. `refused: private address`."""
        return f"{self.code}: {self.reason}"


class FetchRefused(ImageFetchError):
    """Policy said no: scheme, host, non-public address, redirect limit, path outside root."""

    code = "refused"


class FetchFailed(ImageFetchError):
    """The source was reachable by policy but failed: DNS, connection, HTTP status."""

    code = "failed"


class FetchTimeout(FetchFailed):
    """The connect, read or total deadline passed."""

    code = "timeout"


class ImageTooLarge(ImageFetchError):
    """More bytes than the byte cap, or more pixels than the pixel cap."""

    code = "too_large"


class NotAnImage(ImageFetchError):
    """Wrong content type or magic bytes: only JPEG, PNG and WEBP are accepted."""

    code = "not_an_image"


class ImageDecodeError(ImageFetchError):
    """The bytes look like an image but do not decode (truncated, corrupt)."""

    code = "undecodable"


class UpstreamError(ConnectorError):
    """OpenSearch answered with an error, or could not be reached.

    `status` and `body` are what the storefront should receive: OpenSearch's own status and
    JSON body when it answered, a synthetic 503/504 body in OpenSearch's shape when it did not.
    """

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"upstream status {status}")
        self.status = status
        self.body = body
