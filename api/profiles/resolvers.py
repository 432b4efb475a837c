"""Resolvers of the profile queries."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.profiles.types import Profile
from store.api_queries import PersonRow
from store.errors import InputError

MAX_PROFILES = 100


async def profile(
    info: Info, *, person_id: strawberry.ID | None, user_id: str | None
) -> Profile | None:
    if (person_id is None) == (user_id is None):
        raise InputError("profile takes exactly one of personId or userId")
    loaders = info.context.loaders
    if person_id is not None:
        return _profile(info, await loaders.person_by_id.load(str(person_id)))
    return _profile(info, await loaders.person_by_user_id.load(str(user_id)))


async def profiles(info: Info, *, person_ids: list[strawberry.ID]) -> list[Profile | None]:
    if len(person_ids) > MAX_PROFILES:
        raise InputError(
            f"profiles takes at most {MAX_PROFILES} ids, got {len(person_ids)}; split the batch"
        )
    rows = await info.context.loaders.person_by_id.load_many([str(i) for i in person_ids])
    return [_profile(info, row) for row in rows]


def _profile(info: Info, row: PersonRow | None) -> Profile | None:
    run = info.context.run
    return None if row is None or run is None else Profile.from_row(row, run=run)
