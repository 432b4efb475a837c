"""The profile queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.profiles import resolvers
from api.profiles.types import Profile


@strawberry.type
class ProfileQueries:
    @strawberry.field(
        description=(
            "One person by exactly one of personId (pseudonymous) or userId (the shop's own "
            "user id), as of the current run or a kept `run`; null if that run does not know "
            "them. A person the live path created since the current run is found on it by "
            "their live tags (see Profile.live)."
        )
    )
    async def profile(
        self,
        info: Info,
        person_id: strawberry.ID | None = None,
        user_id: str | None = None,
        run: strawberry.ID | None = None,
    ) -> Profile | None:
        return await resolvers.profile(info, person_id=person_id, user_id=user_id, run=run)

    @strawberry.field(
        description="Up to 100 persons by personId, in the order asked (persons created live "
        "since the current run included); null for unknown ids."
    )
    async def profiles(self, info: Info, ids: list[strawberry.ID]) -> list[Profile | None]:
        return await resolvers.profiles(info, person_ids=ids)
