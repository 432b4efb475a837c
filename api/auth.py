"""Who is asking: API keys (`Authorization: Bearer KEY`) and what each role may read.

operator: aggregates only (counts, distributions, personas, rules, drift);
analyst: individual persons too, each read written to the audit log;
admin: everything;
ingest: posting events (POST /events) and nothing else: every other path refuses its keys.

A development store where no key was ever made serves everyone (so `portrait demo` works as it
comes); once a key was made (even if revoked since), or outside development, every request
needs a live key.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.websockets import WebSocket

from store import keys
from store.errors import Forbidden
from store.keys import KeyRow

RANK = {role: rank for rank, role in enumerate(keys.ROLES)}
INGEST = "ingest"
INGEST_ONLY = "it may post events (POST /events) and read nothing"
NOT_A_KEY = "the API key is not a Portrait key (pk_ and 43 letters, digits, - or _)"
NEEDS_KEY = "send an API key: `Authorization: Bearer KEY` (portrait keys create --role ROLE)"


# What `store.keys.create` hands out: `pk_` and 32 random bytes in URL-safe base64. Anything
# else is refused before the cache or the store sees it, so a client cannot make the server
# keep (or look up) arbitrary strings.
KEY_SHAPE = re.compile(r"pk_[A-Za-z0-9_-]{43}")


class KeyCache:
    """What the store said about keys, for `seconds`: a lookup per request was ~9% of a
    profile's server time. A key revoked (or the first key created) takes effect within
    `seconds` in every worker; 0 asks the store every time.

    Entries are keyed by the key's SHA-256, never by the string sent, and at most `MAX_KEYS`
    are kept (the least recently asked go first): each entry is a fixed-size digest and one
    row, so the cache stays under about `MAX_KEYS` x 1 KiB (10 MB) whatever clients send.
    """

    MAX_KEYS = 10_000

    def __init__(
        self, *, engine: Engine, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._seconds = seconds
        self._clock = clock
        self._found: OrderedDict[bytes, tuple[float, KeyRow | None]] = OrderedDict()
        self._any_made: tuple[float, bool] | None = None

    def find(self, key: str) -> KeyRow | None:
        digest = hashlib.sha256(key.encode()).digest()
        now = self._clock()
        cached = self._found.get(digest)
        if cached is not None and now < cached[0]:
            self._found.move_to_end(digest)
            return cached[1]
        found = self.find_uncached(key)
        self._found[digest] = (now + self._seconds, found)
        self._found.move_to_end(digest)
        while len(self._found) > self.MAX_KEYS:
            self._found.popitem(last=False)
        return found

    def find_uncached(self, key: str) -> KeyRow | None:
        """What the store says about the key now (for privileged mutations)."""
        with self._engine.connect() as connection:
            return keys.find(connection=connection, key=key)

    def forget(self) -> None:
        """Drop every cached answer: a key was revoked or created in this worker."""
        self._found.clear()
        self._any_made = None

    def any_made(self) -> bool:
        now = self._clock()
        if self._any_made is not None and now < self._any_made[0]:
            return self._any_made[1]
        with self._engine.connect() as connection:
            made = keys.any_made(connection=connection)
        self._any_made = (now + self._seconds, made)
        return made


def authenticate(
    request: Request | WebSocket,
    *,
    cache: KeyCache,
    require_keys: bool,
    posting_events: bool = False,
) -> KeyRow | None:
    """The caller's live key; None on an open development store; 401 otherwise. An ingest key
    gets 403 unless the request is `posting_events`: it may read nothing."""
    return authenticate_header(
        request.headers.get("authorization", ""),
        cache=cache,
        require_keys=require_keys,
        posting_events=posting_events,
    )


def authenticate_header(
    header: str, *, cache: KeyCache, require_keys: bool, posting_events: bool = False
) -> KeyRow | None:
    """As `authenticate`, from the value of an Authorization header (a browser's WebSocket
    sends it in its first message instead: api.view)."""
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        if not KEY_SHAPE.fullmatch(key.strip()):
            raise _unauthorized(NOT_A_KEY)
        found = cache.find(key.strip())
        if found is None:
            raise _unauthorized("the API key is unknown or revoked")
        if found.role == INGEST and not posting_events:
            raise HTTPException(403, detail=f"this key ({found.name}) is {INGEST}: {INGEST_ONLY}")
        return found
    if header:
        raise _unauthorized("the Authorization header must be `Bearer KEY`")
    if require_keys or cache.any_made():
        raise _unauthorized(NEEDS_KEY)
    return None


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def require_live(key: KeyRow | None, role: str, *, what: str, connection: Connection) -> None:
    """`require`, then ask the store (not the cache) whether the key is still live: a key
    revoked in another worker must not create keys, start runs or forget persons."""
    require(key, role, what=what)
    if key is not None and keys.live_by_id(connection=connection, key_id=key.id) is None:
        raise Forbidden(f"{what}: this key ({key.name}) was revoked")


def reaches(key: KeyRow | None, role: str) -> bool:
    """Whether the caller's role reaches `role` (an open store reaches every role)."""
    return key is None or RANK[key.role] >= RANK[role]


def require(key: KeyRow | None, role: str, *, what: str) -> None:
    """Forbidden unless the caller's role reaches `role` (an open store reaches every role)."""
    if not reaches(key, role):
        assert key is not None
        raise Forbidden(f"{what} needs the {role} role; this key ({key.name}) is {key.role}")
