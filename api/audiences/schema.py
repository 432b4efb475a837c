"""The audience queries and mutations, merged into the schema by `api.schema`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.audiences import diffs, resolvers
from api.audiences.diffs import AudienceDiff
from api.audiences.saved import DeleteAudienceResult, SaveAudienceResult, SavedAudience
from api.audiences.scalars import TagExpression
from api.audiences.types import Audience, Overlap
from api.context import Info


@strawberry.type
class AudienceQueries:
    @strawberry.field(
        description=(
            "The persons of the current run (or of a kept `run`) a tag expression selects: "
            "count, share, breakdown by another key and member pages."
        )
    )
    async def audience(
        self, info: Info, expression: TagExpression, run: strawberry.ID | None = None
    ) -> Audience:
        return await resolvers.audience(info, expression=expression, run=run)

    @strawberry.field(
        description=(
            "Who entered, left and stayed in the audience of an expression from one kept run "
            "(`from`) to another (`to`), with pages of who entered and who left."
        )
    )
    async def audience_diff(
        self,
        info: Info,
        expression: TagExpression,
        from_: Annotated[strawberry.ID, strawberry.argument(name="from")],
        to: strawberry.ID,
    ) -> AudienceDiff:
        return await diffs.audience_diff(info, expression=expression, from_run=from_, to_run=to)

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
