"""The tag queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.tags import resolvers
from api.tags.types import TagDefinition, TagDistributionResult, TagKind

DEFAULT_TOP_VALUES = 100


@strawberry.type
class TagQueries:
    @strawberry.field(description="The current run's tag catalog, ordered by key.")
    async def tags(self, info: Info, kind: TagKind | None = None) -> list[TagDefinition]:
        return await resolvers.catalog(info, kind=kind)

    @strawberry.field(
        description=(
            "How the persons of the current run spread over a key's values: the `top` values "
            "with the most persons (at most 100)."
        )
    )
    async def tag_distribution(
        self, info: Info, key: str, top: int = DEFAULT_TOP_VALUES
    ) -> TagDistributionResult:
        return await resolvers.distribution(info, key=key, top=top)
