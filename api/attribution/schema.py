"""The attribution query, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.attribution import resolvers
from api.attribution.types import (
    AttributionLevel,
    AttributionModel,
    AttributionResult,
)
from api.audiences.scalars import TagExpression
from api.context import Info

DEFAULT_WINDOW = 30


@strawberry.type
class AttributionQueries:
    @strawberry.field(
        description=(
            "Orders and revenue credited to each channel or campaign by one model, over the "
            "touches of `window` days before each order (paths without an order count for "
            "the data-driven models), with cost and ROI where touches carry cost, and each "
            "campaign's holdout lift beside the model's credit. With `audience`, only its "
            "persons' touches and orders (worked out on demand)."
        )
    )
    async def attribution(
        self,
        info: Info,
        model: AttributionModel = AttributionModel.MARKOV,
        level: AttributionLevel = AttributionLevel.CHANNEL,
        window: int = DEFAULT_WINDOW,
        audience: TagExpression | None = None,
    ) -> AttributionResult:
        return await resolvers.attribution(
            info, model=model, level=level, window=window, audience=audience
        )
