"""Content hashes: what a cache key needs to know about a document or a query image."""

from __future__ import annotations

import hashlib


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def image_hash(image_bytes: bytes | None) -> str | None:
    """Hash of encoded image bytes (e.g. the query image), None when there is no image."""
    return None if image_bytes is None else sha256_hex(image_bytes)


def content_hash(text: str | None, image_bytes: bytes | None) -> str:
    """Hash of everything the model sees of a document: its text and its image bytes.

    Text and image are hashed separately and then combined, so no text can collide with
    a text+image pair; a document whose image failed to load hashes like text-only.
    """
    text_part = sha256_hex(text.encode("utf-8")) if text is not None else "-"
    image_part = image_hash(image_bytes) or "-"
    return sha256_hex(f"doc:v1|{text_part}|{image_part}".encode())
