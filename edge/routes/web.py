"""The dashboard: ``GET /`` (the page) and ``GET /static/{path}`` (its modules and styles
from ``edge/web/``, and the browser libraries that ``npm install`` put in ``node_modules``).

Vendored files are served from an allow-list under ``/static/vendor/``, never by walking
``node_modules``; everything else must be a plain file inside ``edge/web/`` whose every
path segment is a simple name (no ``..``, no dot files, no backslashes): anything else is a
400, a missing file a 404, both as the usual JSON error. When the libraries are not
installed their URLs answer 404 and the page says so itself; ``/health`` does not care.

Our own files are revalidated on every load (``no-cache`` + ETag, so a restarted edge never
serves a stale module); the versioned npm files may be cached for a day.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from edge.errors import BadRequest, NotFound

__all__ = ["VENDOR_FILES", "VENDOR_MAX_AGE_S", "WEB_DIR", "routes"]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
_REPO_ROOT = Path(__file__).resolve().parents[2]

# URL name under /static/vendor/ -> path inside node_modules.
VENDOR_FILES = {
    "socket.io.min.js": "socket.io-client/dist/socket.io.min.js",
    "socket.io.min.js.map": "socket.io-client/dist/socket.io.min.js.map",
    "uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
    "uPlot.min.css": "uplot/dist/uPlot.min.css",
}

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # fullmatch
_MAX_SEGMENTS = 4
VENDOR_MAX_AGE_S = 86_400
_OWN_CACHE = "no-cache"
_VENDOR_CACHE = f"public, max-age={VENDOR_MAX_AGE_S}"
# The page loads only its own scripts; Socket.IO may fall back from ws: to polling.
_PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def _node_modules_dirs() -> list[Path]:
    """Where ``npm install`` may have put the libraries: the repository root, then the
    working directory (for an installed edge started from a checkout)."""
    dirs = [_REPO_ROOT / "node_modules", Path.cwd() / "node_modules"]
    return list(dict.fromkeys(dirs))


def _regular_file(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _find_vendor(name: str) -> tuple[Path, os.stat_result] | None:
    relative = VENDOR_FILES[name]
    for base in _node_modules_dirs():
        path = base / relative
        st = _regular_file(path)
        if st is not None:
            return path, st
    return None


def _find_own(segments: list[str]) -> tuple[Path, os.stat_result] | None:
    root = WEB_DIR.resolve()
    path = root.joinpath(*segments).resolve()
    if not path.is_relative_to(root):  # a symlink pointing out of edge/web
        return None
    st = _regular_file(path)
    return (path, st) if st is not None else None


def _file(
    request: Request, path: Path, st: os.stat_result, *, cache: str, extra: dict[str, str]
) -> Response:
    media_type = _CONTENT_TYPES[path.suffix.lower()]
    headers = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **extra}
    response = FileResponse(path, media_type=media_type, headers=headers, stat_result=st)
    etag = response.headers["etag"]
    wanted = request.headers.get("if-none-match", "")
    if etag in (tag.strip() for tag in wanted.split(",")):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache})
    return response


async def _index(request: Request) -> Response:
    found = await asyncio.to_thread(_find_own, ["index.html"])
    if found is None:
        raise NotFound("the dashboard files are missing from this installation")
    return _file(request, *found, cache=_OWN_CACHE, extra={"Content-Security-Policy": _PAGE_CSP})


async def _static(request: Request) -> Response:
    raw = str(request.path_params["path"])
    segments = raw.split("/")
    if not raw or len(segments) > _MAX_SEGMENTS:
        raise NotFound(f"no static file {raw[:100]!r}")
    if not all(_SEGMENT_RE.fullmatch(s) and ".." not in s for s in segments):
        raise BadRequest("a static path is made of plain names: no '..', dot files or escapes")
    if Path(raw).suffix.lower() not in _CONTENT_TYPES:
        raise NotFound(f"no static file {raw[:100]!r}")
    if segments[0] == "vendor":
        name = "/".join(segments[1:])
        if name not in VENDOR_FILES:
            raise NotFound(f"no vendored file {name[:100]!r}")
        found = await asyncio.to_thread(_find_vendor, name)
        if found is None:
            package = VENDOR_FILES[name].split("/")[0]
            raise NotFound(
                f"the browser library {package} is not installed: "
                "run `npm install` in the repository root"
            )
        return _file(request, *found, cache=_VENDOR_CACHE, extra={})
    own = await asyncio.to_thread(_find_own, segments)
    if own is None:
        raise NotFound(f"no static file {raw[:100]!r}")
    return _file(request, *own, cache=_OWN_CACHE, extra={})


routes = [
    Route("/", _index, methods=["GET"]),
    Route("/static/{path:path}", _static, methods=["GET"]),
]
