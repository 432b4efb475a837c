"""Who is asking: API keys (`Authorization: Bearer KEY`) and what each role may read.

operator: aggregates only (counts, distributions, personas, rules, drift);
analyst: individual persons too, each read written to the audit log;
admin: everything.

A development store without any key serves everyone (so `portrait demo` works as it comes);
once a key exists, or outside development, every request needs a live key.
"""

from __future__ import annotations

from sqlalchemy import Connection
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.websockets import WebSocket

from store import keys
from store.errors import Forbidden
from store.keys import KeyRow

RANK = {role: rank for rank, role in enumerate(keys.ROLES)}
NEEDS_KEY = "send an API key: `Authorization: Bearer KEY` (portrait keys create --role ROLE)"


def authenticate(
    request: Request | WebSocket, *, connection: Connection, require_keys: bool
) -> KeyRow | None:
    """The caller's live key; None on an open development store; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        found = keys.find(connection=connection, key=key.strip())
        if found is None:
            raise _unauthorized("the API key is unknown or revoked")
        return found
    if header:
        raise _unauthorized("the Authorization header must be `Bearer KEY`")
    if require_keys or keys.any_live(connection=connection):
        raise _unauthorized(NEEDS_KEY)
    return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require(key: KeyRow | None, role: str, *, what: str) -> None:
    """Forbidden unless the caller's role reaches `role` (an open store reaches every role)."""
    if key is not None and RANK[key.role] < RANK[role]:
        raise Forbidden(f"{what} needs the {role} role; this key ({key.name}) is {key.role}")
