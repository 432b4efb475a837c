"""The per-request context: the store connection, the run this request reads, its DataLoaders.

Each domain owns its loaders (`api.profiles.loaders.ProfileLoaders`, ...); the context makes a
domain's on first use and keeps them for the request, so it imports no domain's loaders.

A request reads the store through one connection (checking one out of the pool costs more
than a point query) and reads the current run once, on first use; every loader filters by that
run's id, so one response never mixes two runs, and a run committed meanwhile is served from
the next request on (nothing caches the run id across requests). The view closes the
connection when the operation ends (`api.view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Protocol, TypeVar, cast

import strawberry
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from api import auth
from api.audiences.indexes import AudienceIndexes
from api.auth import KeyCache
from api.basket.segments import SegmentRules
from api.counts import Disclosure
from api.ledger import AnswerLedger
from api.live.service import Live
from api.runs.starter import RunStarter
from api.tags.kinds import TagKinds
from api.tags.types import TagKind
from store import keys
from store.errors import InputError
from store.keys import KeyRow, PersonRead
from store.runs import reads as run_reads
from store.runs.reads import RunRow
from store.settings import Settings

ANONYMOUS = "anonymous"
L_co = TypeVar("L_co", covariant=True)
T = TypeVar("T")


class LoaderFamily(Protocol[L_co]):
    """A domain's DataLoaders (`api.<domain>.loaders`), made for one request from its store
    connection and the run it reads."""

    def __call__(self, *, connection: Connection, run_id: int | None) -> L_co: ...


class Context:
    def __init__(
        self,
        *,
        engine: Engine,
        indexes: AudienceIndexes,
        segments: SegmentRules,
        settings: Settings,
        starter: RunStarter,
        kinds: TagKinds,
        ledger: AnswerLedger,
        key_cache: KeyCache,
        live: Live,
    ) -> None:
        self.engine = engine
        self.indexes = indexes
        self.segments = segments
        self.settings = settings
        self.starter = starter
        self.kinds = kinds
        self.ledger = ledger
        self.key_cache = key_cache
        self.live = live
        self.key: KeyRow | None = None  # None: an open development store (api.auth)
        self.reads: list[PersonRead] = []  # persons this request read, for the audit log
        self._loaders: dict[object, object] = {}  # by family and run
        # A WebSocket without an Authorization header: its key is in its first message.
        self.awaiting_key = False
        self.connection_params: dict[str, object] | None = None

    @property
    def actor(self) -> str:
        """Who is asking, as saved audiences and key operations record it."""
        return ANONYMOUS if self.key is None else self.key.name

    def require_live(self, role: str, *, what: str) -> None:
        """The caller's role reaches `role`, and the store (not the key cache) says its key is
        live: for the mutations that change who may do what, or what the store holds."""
        auth.require_live(self.key, role, what=what, connection=self.connection)

    def read_persons(self, person_ids: list[str], *, query: str, run_id: int) -> None:
        """Note persons read (of run `run_id`) for the audit log."""
        self.reads += [PersonRead(run_id, p, query) for p in person_ids]

    @cached_property
    def connection(self) -> Connection:
        """The request's store connection, opened on first use."""
        return self.engine.connect()

    @cached_property
    def run(self) -> RunRow | None:
        """The committed run this request reads (the current one unless a field's `run`
        argument chose a kept one: `at_run`); None on an empty store."""
        return run_reads.current_run(connection=self.connection)

    def at_run(self, run_id: strawberry.ID | None) -> RunRow | None:
        """The run a field's `run` argument names (None: the run this request reads), made the
        run this request reads: one response never mixes two runs, so a request that has read
        another one already is refused."""
        if run_id is None:
            return self.run
        try:
            wanted = int(str(run_id))
        except ValueError:
            raise InputError(f"run {str(run_id)!r} is not a run id (a whole number)") from None
        row = run_reads.kept_run(connection=self.connection, run_id=wanted)
        read = self.__dict__.get("run")
        if "run" in self.__dict__ and (read is None or read.id != row.id):
            raise InputError(
                f"this request reads run {read.id if read else 'none'} already; a request reads"
                f" one run: ask for run {row.id} in a request of its own"
            )
        self.__dict__["run"] = row
        return row

    @property
    def run_id(self) -> int | None:
        return None if self.run is None else self.run.id

    @property
    def tag_kinds(self) -> Mapping[str, TagKind]:
        """The kind of each key in the current run's catalog (none on an empty store)."""
        return {} if self.run is None else self.kinds.of(self.run, connection=self.connection)

    @cached_property
    def disclosure(self) -> Disclosure:
        """How this request sees counts of persons: exactly, or an operator's ranges and
        ledger of earlier answers."""
        exact = self.key is None or self.key.role != "operator"
        return Disclosure(
            exact=exact,
            minimum=self.settings.min_audience,
            universe=0 if self.run is None else self.run.persons,
            ledger=None if exact else self.ledger,
            key_id=0 if self.key is None else self.key.id,
            run_id=0 if self.run is None else self.run.id,
        )

    def loaders(self, family: LoaderFamily[T], *, run_id: int | None = None) -> T:
        """This request's loaders of one domain (`loaders(ProfileLoaders).person_by_id`), made
        on first use: a batch and its cache span the request, and no longer. They read the run
        this request reads, or `run_id` (the earlier run of a diff)."""
        run = self.run_id if run_id is None else run_id
        found = self._loaders.get((family, run))
        if found is None:
            found = self._loaders[family, run] = family(connection=self.connection, run_id=run)
        return cast(T, found)

    @property
    def audits(self) -> bool:
        """Whether `close` has person reads to write to the audit log."""
        return self.key is not None and bool(self.reads)

    def close(self) -> None:
        """Write the request's person reads to the audit log; give the connection back."""
        connection = self.__dict__.pop("connection", None)
        if connection is not None:
            connection.close()
        if self.audits:
            assert self.key is not None
            keys.audit(engine=self.engine, key=self.key, reads=self.reads)
            self.reads = []


Info = strawberry.Info[Context, None]
