"""The basket queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.audiences.scalars import TagExpression
from api.basket import resolvers
from api.basket.types import AssociationRule, BasketLevel
from api.context import Info


@strawberry.type
class BasketQueries:
    @strawberry.field(
        description=(
            "The current run's basket rules, strongest (highest lift) first, at most 100. With "
            "`items`, only the rules that fire for a basket holding them: every antecedent is "
            "among the items and no consequent is. With `audience`, the rules mined from the "
            "baskets of the audience's persons only (mined on first ask, then cached for the run)."
        )
    )
    async def associations(
        self,
        info: Info,
        items: list[strawberry.ID] | None = None,
        level: BasketLevel = BasketLevel.ITEM,
        min_lift: float | None = None,
        first: int = 20,
        audience: TagExpression | None = None,
    ) -> list[AssociationRule]:
        return await resolvers.associations(
            info,
            items=None if items is None else [str(i) for i in items],
            level=level,
            min_lift=min_lift,
            first=first,
            audience=audience,
        )
