"""GraphiQL's page and the third-party files it loads, read from the package.

The files are stored gzipped (see static/LICENSES.md for what they are and their licences):
GraphiQL's bundle is 3.5 MB as published and 0.7 MB gzipped, in the repository and on the wire.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The files never change under a name while a version of Portrait is installed.
CACHE_CONTROL = "public, max-age=86400"


@cache
def page() -> str:
    """The GraphiQL page, which loads everything from /playground/static."""
    return (resources.files(__package__) / "graphiql.html").read_text(encoding="utf-8")


@cache
def compressed(name: str) -> bytes | None:
    """The gzipped bytes of a file in static/, or None if there is no such file."""
    if "/" in name or name.startswith("."):
        return None
    found = resources.files(__package__) / "static" / f"{name}.gz"
    return found.read_bytes() if found.is_file() else None


async def graphiql(_request: Request) -> HTMLResponse:
    return HTMLResponse(page())


async def static_file(request: Request) -> Response:
    """A file of static/, gzipped when the browser accepts it (every browser does)."""
    name = request.path_params["name"]
    media_type = next((t for s, t in MEDIA_TYPES.items() if name.endswith(s)), None)
    body = compressed(name) if media_type else None
    if body is None:
        return Response(f"no playground file {name!r}", status_code=404, media_type="text/plain")
    headers = {"cache-control": CACHE_CONTROL, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=media_type, headers=headers)
