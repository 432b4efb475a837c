"""GraphiQL's page and the third-party files it loads, read from the package.

The files are stored gzipped (see static/LICENSES.md for what they are and their licences):
GraphiQL's bundle is 3.5 MB as published and 0.7 MB gzipped, in the repository and on the wire.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The files never change under a name while a version of Portrait is installed.
CACHE_CONTROL = "public, max-age=86400"


@cache
def page() -> str:
    """The GraphiQL page, which loads everything from /playground/static."""
    return (resources.files(__package__) / "graphiql.html").read_text(encoding="utf-8")


@cache
def compressed() -> dict[str, bytes]:
    """The gzipped bytes of every file in static/, by the file's own name."""
    static = resources.files(__package__) / "static"
    return {
        entry.name.removesuffix(".gz"): entry.read_bytes()
        for entry in static.iterdir()
        if entry.name.endswith(".gz")
    }


async def static_file(request: Request) -> Response:
    """A file of static/, gzipped when the browser accepts it (every browser does)."""
    name = request.path_params["name"]
    media_type = next((t for s, t in MEDIA_TYPES.items() if name.endswith(s)), None)
    # Looked up among the files there are: a name from the URL never reaches the file system.
    body = compressed().get(name) if media_type else None
    if body is None:
        return Response(f"no playground file {name!r}", status_code=404, media_type="text/plain")
    headers = {"cache-control": CACHE_CONTROL, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
    else:
        body = gzip.decompress(body)
    return Response(body, media_type=media_type, headers=headers)
