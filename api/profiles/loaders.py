"""DataLoaders for persons and what hangs off them, one store round trip per batch.

A person looked up by their person id or user id whom the run has no profile of, but the live
path has (created live since the run), is found by their live row: a person row with nothing of
the run's in it, their live row kept in the loaders' `created` for the profile to show.

The batch functions run their indexed, sub-millisecond queries on the event loop, on the
request's connection: a hop to a worker thread would cost more than the query itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store.live import profiles as live_profiles
from store.live.profiles import LivePerson, LiveRow
from store.profiles import reads as profile_reads
from store.profiles.reads import USER_ID, PersonRow

# The live rows of the persons created live that a request's lookups found, by person number.
Created = dict[int, LiveRow]


def _found_live(found: Iterable[LivePerson], created: Created) -> dict[str, PersonRow]:
    """Persons created live, by the identifier they were found by, as person rows holding
    nothing of the run's (no attributes, features or tags); their live rows into `created`."""
    persons: dict[str, PersonRow] = {}
    for person in found:
        created[person.row.person_idx] = person.row
        persons[person.identifier] = PersonRow(person.row.person_idx, person.person_id, {}, None)
    return persons


def _person_by_id(
    *, connection: Connection, run_id: int | None, created: Created
) -> DataLoader[str, PersonRow | None]:
    """Persons by their pseudonymous person id; None for ids neither the run nor the live path
    knows."""

    async def load(person_ids: list[str]) -> list[PersonRow | None]:
        if run_id is None:
            return [None] * len(person_ids)
        rows = profile_reads.persons_by_person_id(
            connection=connection, run_id=run_id, person_ids=person_ids
        )
        by_id = {row.person_id: row for row in rows}
        if missing := [person_id for person_id in person_ids if person_id not in by_id]:
            live = live_profiles.live_only_by_person_id(
                connection=connection, run_id=run_id, person_ids=missing
            )
            by_id |= _found_live(live, created)
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
    *, connection: Connection, run_id: int | None, created: Created
) -> DataLoader[str, PersonRow | None]:
    """Persons by the shop's own user id; None for ids neither the run nor the live path
    knows."""

    async def load(user_ids: list[str]) -> list[PersonRow | None]:
        if run_id is None:
            return [None] * len(user_ids)
        pairs = profile_reads.persons_by_identifier(
            connection=connection, run_id=run_id, identifiers=user_ids
        )
        by_user_id = dict(pairs)
        if missing := [user_id for user_id in user_ids if user_id not in by_user_id]:
            live = live_profiles.live_only_by_identifier(
                connection=connection, run_id=run_id, kind=USER_ID, identifiers=missing
            )
            by_user_id |= _found_live(live, created)
        return [by_user_id.get(user_id) for user_id in user_ids]

    return DataLoader(load_fn=load)


class ProfileLoaders:
    """The DataLoaders of persons (their profile rows, tags included) for one request, each
    made on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection
        self._run_id = run_id
        # The live rows of the persons created live that `person_by_id` and `person_by_user_id`
        # found (`api.profiles.resolvers.profiles_of` shows them).
        self.created: Created = {}

    @cached_property
    def person_by_id(self) -> DataLoader[str, PersonRow | None]:
        return _person_by_id(connection=self._connection, run_id=self._run_id, created=self.created)

    @cached_property
    def person_by_idx(self) -> DataLoader[int, PersonRow | None]:
        return _person_by_idx(connection=self._connection, run_id=self._run_id)

    @cached_property
    def person_by_user_id(self) -> DataLoader[str, PersonRow | None]:
        return _person_by_user_id(
            connection=self._connection, run_id=self._run_id, created=self.created
        )
