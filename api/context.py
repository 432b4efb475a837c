"""The per-request context: the store connection, the run this request reads, its DataLoaders.

A request reads the store through one connection (checking one out of the pool costs more
than a point query) and reads the current run once, on first use; every loader filters by that
run's id, so one response never mixes two runs, and a run committed meanwhile is served from
the next request on (nothing caches the run id across requests). The view closes the
connection when the operation ends (`api.view`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import strawberry
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from strawberry.dataloader import DataLoader

from api import auth
from api.audiences.indexes import AudienceIndexes
from api.auth import KeyCache
from api.basket import loaders as basket_loaders
from api.basket.segments import SegmentRules
from api.counts import Disclosure
from api.ledger import AnswerLedger
from api.live.service import Live
from api.personas import loaders as persona_loaders
from api.profiles import loaders as profile_loaders
from api.runs import loaders as run_loaders
from api.runs.starter import RunStarter
from api.tags import loaders as tag_loaders
from api.tags.kinds import TagKinds
from api.tags.types import TagKind
from store import api_queries, keys
from store.api_queries import (
    PersonRow,
    PersonTagRow,
    RunReportRow,
    RunRow,
    TagDefinitionRow,
)
from store.basket_queries import ItemRow, RecommendationRow, RuleRow
from store.keys import KeyRow, PersonRead
from store.persona_queries import Persona
from store.settings import Settings

ANONYMOUS = "anonymous"


class Loaders:
    """DataLoaders of one request, each created on first use (most queries need one or two)."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection
        self._run_id = run_id

    @cached_property
    def person_by_id(self) -> DataLoader[str, PersonRow | None]:
        return profile_loaders.person_by_id(connection=self._connection, run_id=self._run_id)

    @cached_property
    def person_by_idx(self) -> DataLoader[int, PersonRow | None]:
        return profile_loaders.person_by_idx(connection=self._connection, run_id=self._run_id)

    @cached_property
    def person_by_user_id(self) -> DataLoader[str, PersonRow | None]:
        return profile_loaders.person_by_user_id(connection=self._connection, run_id=self._run_id)

    @cached_property
    def tags_of_person(self) -> DataLoader[profile_loaders.TagsWanted, list[PersonTagRow]]:
        return profile_loaders.tags_of_person(connection=self._connection, run_id=self._run_id)

    @cached_property
    def catalog(self) -> DataLoader[int, dict[str, TagDefinitionRow]]:
        return tag_loaders.catalog(connection=self._connection)

    @cached_property
    def item_rule(self) -> DataLoader[int, RuleRow | None]:
        return basket_loaders.item_rules_by_rank(connection=self._connection, run_id=self._run_id)

    @cached_property
    def item(self) -> DataLoader[str, ItemRow | None]:
        return basket_loaders.item(connection=self._connection, run_id=self._run_id)

    @cached_property
    def recommendations_of_person(self) -> DataLoader[int, list[RecommendationRow]]:
        return basket_loaders.recommendations_of_person(
            connection=self._connection, run_id=self._run_id
        )

    @cached_property
    def basket_report(self) -> DataLoader[int, dict[str, Any] | None]:
        return basket_loaders.basket_report(connection=self._connection)

    @cached_property
    def personas(self) -> DataLoader[int, dict[str, Persona]]:
        return persona_loaders.personas(connection=self._connection)

    @cached_property
    def run_by_id(self) -> DataLoader[int, RunRow | None]:
        return run_loaders.run_by_id(connection=self._connection)

    @cached_property
    def run_report(self) -> DataLoader[int, RunReportRow | None]:
        return run_loaders.run_report(connection=self._connection)


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

    def read_persons(self, person_ids: list[str], *, query: str) -> None:
        if self.run is not None:
            self.reads += [PersonRead(self.run.id, p, query) for p in person_ids]

    @cached_property
    def connection(self) -> Connection:
        """The request's store connection, opened on first use."""
        return self.engine.connect()

    @cached_property
    def run(self) -> RunRow | None:
        """The committed run this request reads; None on an empty store."""
        return api_queries.current_run(connection=self.connection)

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

    @cached_property
    def loaders(self) -> Loaders:
        return Loaders(connection=self.connection, run_id=self.run_id)

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
