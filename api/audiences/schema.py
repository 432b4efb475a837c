"""The audience queries and mutations, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.audiences import resolvers
from api.audiences.saved import DeleteAudienceResult, SaveAudienceResult, SavedAudience
from api.audiences.scalars import TagExpression
from api.audiences.types import Audience, Overlap
from api.context import Info


@strawberry.type
class AudienceQueries:
    @strawberry.field(
        description=(
            "The persons of the current run a tag expression selects: count, share, "
            "breakdown by another key and member pages."
        )
    )
    async def audience(self, info: Info, expression: TagExpression) -> Audience:
        return await resolvers.audience(info, expression=expression)

    @strawberry.field(description="Sizes of a, b, both and either, on the current run.")
    async def overlap(
        self,
        info: Info,
        a: TagExpression,
        b: TagExpression,
    ) -> Overlap:
        return await resolvers.overlap(info, a=a, b=b)

    @strawberry.field(description="Saved audiences by name: the `first` (at most 100).")
    def audiences(self, info: Info, first: int = 100) -> list[SavedAudience]:
        return resolvers.all_saved(info, first=first)

    @strawberry.field(description="One saved audience; null if no audience has the name.")
    def saved_audience(self, info: Info, name: str) -> SavedAudience | None:
        return resolvers.saved_audience(info, name=name)


@strawberry.type
class AudienceMutations:
    @strawberry.mutation(
        description=(
            "Save an expression under a name, or edit it (the earlier expression is kept in "
            "its history). The expression must hold on the current run; a key changes only "
            "its own audiences and those of lower roles."
        )
    )
    async def save_audience(
        self, info: Info, name: str, expression: TagExpression
    ) -> SaveAudienceResult:
        return await resolvers.save(info, name=name, expression=expression)

    @strawberry.mutation(description="Delete a saved audience (its history is kept).")
    async def delete_audience(self, info: Info, name: str) -> DeleteAudienceResult:
        return await resolvers.delete(info, name=name)
