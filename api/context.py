"""The per-request context: the engine, the run this request reads, and its DataLoaders.

The current run is read once, when the context is built, and every loader filters by that
run's id: one response never mixes two runs, and a run committed after the request started is
served from the next request on (nothing caches the run id across requests).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import strawberry
from sqlalchemy.engine import Engine
from strawberry.dataloader import DataLoader

from api.profiles import loaders as profile_loaders
from api.runs import loaders as run_loaders
from api.tags import loaders as tag_loaders
from store import api_queries
from store.api_queries import (
    PersonFeaturesRow,
    PersonRow,
    PersonTagRow,
    RunRow,
    TagDefinitionRow,
)


class Loaders:
    """DataLoaders of one request, each created on first use (most queries need one or two)."""

    def __init__(self, *, engine: Engine, run_id: int | None) -> None:
        self._engine = engine
        self._run_id = run_id

    @cached_property
    def person_by_id(self) -> DataLoader[str, PersonRow | None]:
        return profile_loaders.person_by_id(engine=self._engine, run_id=self._run_id)

    @cached_property
    def person_by_user_id(self) -> DataLoader[str, PersonRow | None]:
        return profile_loaders.person_by_user_id(engine=self._engine, run_id=self._run_id)

    @cached_property
    def tags_of_person(self) -> DataLoader[int, list[PersonTagRow]]:
        return profile_loaders.tags_of_person(engine=self._engine, run_id=self._run_id)

    @cached_property
    def features_of_person(self) -> DataLoader[int, PersonFeaturesRow | None]:
        return profile_loaders.features_of_person(engine=self._engine, run_id=self._run_id)

    @cached_property
    def catalog(self) -> DataLoader[int, dict[str, TagDefinitionRow]]:
        return tag_loaders.catalog(engine=self._engine)

    @cached_property
    def run_by_id(self) -> DataLoader[int, RunRow | None]:
        return run_loaders.run_by_id(engine=self._engine)


@dataclass
class Context:
    engine: Engine
    run: RunRow | None  # the committed run this request reads; None on an empty store
    loaders: Loaders

    @property
    def run_id(self) -> int | None:
        return None if self.run is None else self.run.id


Info = strawberry.Info[Context, None]


def build_context(*, engine: Engine) -> Context:
    """Read the current run (one small query) and set up the request's loaders."""
    with engine.connect() as connection:
        run = api_queries.current_run(connection=connection)
    run_id = None if run is None else run.id
    return Context(engine=engine, run=run, loaders=Loaders(engine=engine, run_id=run_id))
