"""Images given as local paths, confined to one configured root directory."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from connectors.errors import FetchFailed, FetchRefused, ImageTooLarge


def is_local_ref(ref: str) -> bool:
    """True for plain paths and file:// URLs; scheme-relative `//host/x` is a URL, not a path."""
    if ref.startswith("//"):
        return False
    return urlsplit(ref).scheme.lower() in ("", "file")


def _ref_to_path(ref: str) -> Path:
    if ref.lower().startswith("file:"):
        parts = urlsplit(ref)
        if parts.netloc not in ("", "localhost"):
            raise FetchRefused("file:// URLs must not name a host")
        return Path(unquote(parts.path))
    return Path(ref)


def read_local_image(ref: str, root: str | None, max_bytes: int) -> bytes:
    """Read the file `ref` names, if it resolves (symlinks followed) inside `root`.

    Relative paths are taken relative to `root`; absolute paths must already lie under it.
    Blocking: call it through `asyncio.to_thread`.
    """
    if root is None:
        raise FetchRefused("local image paths are disabled (no image root configured)")
    try:
        root_path = Path(root).resolve(strict=True)
        candidate = _ref_to_path(ref)
        if not candidate.is_absolute():
            candidate = root_path / candidate
        resolved = candidate.resolve(strict=True)
    except FileNotFoundError as exc:
        raise FetchFailed("no such image file") from exc
    except (OSError, RuntimeError, ValueError) as exc:
        # RuntimeError: symlink loop; ValueError: NUL byte in the path.
        raise FetchRefused("invalid image path") from exc
    if not resolved.is_relative_to(root_path):
        raise FetchRefused("image path escapes the image root")
    if not resolved.is_file():
        raise FetchRefused("image path is not a regular file")
    return _read_capped(resolved, max_bytes)


def _read_capped(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size > max_bytes:
                raise ImageTooLarge(f"file is larger than {max_bytes} bytes")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise FetchFailed("cannot read image file") from exc
    if len(data) > max_bytes:
        raise ImageTooLarge(f"file is larger than {max_bytes} bytes")
    return data
