"""`GET /api/catalog-images/{name}`: product pictures from `<images.local_root>/images/`.

The console shows catalog pictures beside search hits; the sample catalog indexes local file
paths, which a browser can't open, so the sidecar serves them by file name. Only plain file
names with an image extension are served, and only from that one directory: anything else
is a 404 in our error shape, the same answer as a missing file, so the route reveals nothing
about the file system.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from sidecar.api.deps import ServicesDep

IMAGES_SUBDIR = "images"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+\.(png|jpe?g|webp)$")
# Explicit, so the answer doesn't depend on the host's mimetypes database.
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
CACHE_CONTROL = "public, max-age=3600"

router = APIRouter(tags=["console"])


# `{name:path}` so a name carrying a (decoded) slash still reaches this route and gets our
# 404, instead of falling through to the OpenSearch pass-through.
@router.get("/api/catalog-images/{name:path}", response_class=FileResponse)
async def catalog_image(name: str, services: ServicesDep) -> FileResponse:
    """One catalog picture by file name (e.g. `p0001.png`), cacheable for an hour."""
    path = resolve_image(services.settings.images.local_root, name)
    extension = path.suffix.lower().lstrip(".")
    return FileResponse(
        path, media_type=MEDIA_TYPES[extension], headers={"Cache-Control": CACHE_CONTROL}
    )


def resolve_image(local_root: str | None, name: str) -> Path:
    """The file `name` under `<local_root>/images/`; HTTPException(404) unless it is a
    well-formed image name of an existing regular file inside that directory."""
    match = NAME_PATTERN.fullmatch(name)
    if not local_root or match is None:
        raise _not_found(name)
    directory = (Path(local_root) / IMAGES_SUBDIR).resolve()
    # resolve() follows symlinks, so a link pointing out of the directory is refused too.
    path = (directory / name).resolve()
    if not path.is_relative_to(directory) or path.parent != directory or not path.is_file():
        raise _not_found(name)
    return path


def _not_found(name: str) -> HTTPException:
    shown = name if len(name) <= 80 else name[:77] + "..."
    return HTTPException(status_code=404, detail=f"no catalog image named {shown!r}")
