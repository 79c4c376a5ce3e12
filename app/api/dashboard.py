"""The web dashboard: ``GET /`` and its static files under ``/static/``.

The dashboard is plain files in ``app/api/static/`` (HTML, ES modules, CSS; no
build step). It talks to the service only through the public API and the
``/api/v1/events`` stream, so this module just serves the files, with headers
that keep the page locked down: a strict Content-Security-Policy (no inline
script or style, connections only to this origin), no MIME sniffing, no
framing, no referrer.

Use: ``app.include_router(dashboard_router())`` — plain routes, no ``Mount``,
so it works with every FastAPI version and needs no token (the page itself
holds no data; the API it calls does the auth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR: Final = Path(__file__).parent / "static"

CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:"
)

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Small files that change with each release: always revalidate.
    "Cache-Control": "no-cache",
}

# Explicit types: module scripts are refused under ``nosniff`` unless served
# as JavaScript, and the platform's mimetypes table is not to be trusted.
MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def dashboard_router() -> APIRouter:
    """Routes for ``GET /`` (the page) and ``GET /static/{path}`` (its assets)."""
    router = APIRouter(include_in_schema=False)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def show_dashboard() -> FileResponse:
        return _file_response(STATIC_DIR / "index.html")

    @router.api_route("/static/{path:path}", methods=["GET", "HEAD"])
    async def read_static_file(path: str) -> FileResponse:
        file = find_static_file(path)
        if file is None:
            raise HTTPException(status_code=404, detail="no such dashboard file")
        return _file_response(file)

    return router


def find_static_file(path: str, root: Path = STATIC_DIR) -> Path | None:
    """The file ``path`` names inside ``root``, or None.

    Refuses anything that would leave ``root`` (``..``, absolute paths,
    symlinks pointing out), hidden files, and types not in ``MEDIA_TYPES``.
    """
    parts = Path(path).parts
    if not parts or any(part.startswith(".") or part in ("/", "\\") for part in parts):
        return None
    base = root.resolve()
    candidate = (base / path).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    if candidate.suffix not in MEDIA_TYPES:
        return None
    return candidate


def _file_response(file: Path) -> FileResponse:
    return FileResponse(file, media_type=MEDIA_TYPES[file.suffix], headers=SECURITY_HEADERS)
