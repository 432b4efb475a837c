"""The conversion queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.audiences.scalars import TagExpression
from api.context import Info
from api.outcomes import resolvers
from api.outcomes.types import AudienceComparison, SegmentPerformance

DEFAULT_DAYS = 30


@strawberry.type
class OutcomeQueries:
    @strawberry.field(
        description=(
            "For each value of a tag key: how many of its persons ordered within `days` after "
            "the run's as_of. Needs data past as_of (tag as of an earlier day)."
        )
    )
    async def segment_performance(
        self, info: Info, key: str, days: int = DEFAULT_DAYS
    ) -> SegmentPerformance:
        return await resolvers.segment_performance(info, key=key, days=days)

    @strawberry.field(
        description=(
            "The conversion of two audiences within `days` after the run's as_of, their "
            "difference with a 95% confidence interval and p-value, and a verdict."
        )
    )
    async def compare_audiences(
        self, info: Info, a: TagExpression, b: TagExpression, days: int = DEFAULT_DAYS
    ) -> AudienceComparison:
        return await resolvers.compare_audiences(info, a=a, b=b, days=days)
