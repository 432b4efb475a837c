"""The privacy mutations, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.privacy import resolvers
from api.privacy.types import ForgetPersonResult


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(
        description=(
            "Remove a person from every run and put their identifiers on the suppression list, "
            "so that later runs do not derive them again (admin only)."
        )
    )
    async def forget_person(self, info: Info, person_id: strawberry.ID) -> ForgetPersonResult:
        return await resolvers.forget_person(info, person_id=str(person_id))
