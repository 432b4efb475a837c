"""DataLoaders for persons and what hangs off them, one store round trip per batch.

The batch functions run their indexed, sub-millisecond queries on the event loop, on the
request's connection: a hop to a worker thread would cost more than the query itself.
"""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store.profiles import reads as profile_reads
from store.profiles.reads import PersonRow


def _person_by_id(
    *, connection: Connection, run_id: int | None
) -> DataLoader[str, PersonRow | None]:
    """Persons by their pseudonymous person id; None for ids the run does not know."""

    async def load(person_ids: list[str]) -> list[PersonRow | None]:
        if run_id is None:
            return [None] * len(person_ids)
        rows = profile_reads.persons_by_person_id(
            connection=connection, run_id=run_id, person_ids=person_ids
        )
        by_id = {row.person_id: row for row in rows}
        return [by_id.get(person_id) for person_id in person_ids]

    return DataLoader(load_fn=load)


def _person_by_idx(
    *, connection: Connection, run_id: int | None
) -> DataLoader[int, PersonRow | None]:
    """Persons by their position in the run (audience members); None for positions beyond it."""

    async def load(person_idxs: list[int]) -> list[PersonRow | None]:
        if run_id is None:
            return [None] * len(person_idxs)
        rows = profile_reads.persons_by_idx(
            connection=connection, run_id=run_id, person_idxs=person_idxs
        )
        by_idx = {row.person_idx: row for row in rows}
        return [by_idx.get(person_idx) for person_idx in person_idxs]

    return DataLoader(load_fn=load)


def _person_by_user_id(
    *, connection: Connection, run_id: int | None
) -> DataLoader[str, PersonRow | None]:
    """Persons by the shop's own user id; None for ids the run does not know."""

    async def load(user_ids: list[str]) -> list[PersonRow | None]:
        if run_id is None:
            return [None] * len(user_ids)
        pairs = profile_reads.persons_by_identifier(
            connection=connection, run_id=run_id, identifiers=user_ids
        )
        by_user_id = dict(pairs)
        return [by_user_id.get(user_id) for user_id in user_ids]

    return DataLoader(load_fn=load)


class ProfileLoaders:
    """The DataLoaders of persons (their profile rows, tags included) for one request, each
    made on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection
        self._run_id = run_id

    @cached_property
    def person_by_id(self) -> DataLoader[str, PersonRow | None]:
        return _person_by_id(connection=self._connection, run_id=self._run_id)

    @cached_property
    def person_by_idx(self) -> DataLoader[int, PersonRow | None]:
        return _person_by_idx(connection=self._connection, run_id=self._run_id)

    @cached_property
    def person_by_user_id(self) -> DataLoader[str, PersonRow | None]:
        return _person_by_user_id(connection=self._connection, run_id=self._run_id)
