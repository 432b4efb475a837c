"""Resolvers of the basket queries."""

from __future__ import annotations

from api.basket.types import AssociationRule, BasketLevel, rules_of
from api.context import Info
from store import basket_queries
from store.errors import InputError

MAX_RULES = 100


async def associations(
    info: Info,
    *,
    items: list[str] | None,
    level: BasketLevel,
    min_lift: float | None,
    first: int,
) -> list[AssociationRule]:
    if not 0 <= first <= MAX_RULES:
        raise InputError(f"first must be between 0 and {MAX_RULES}, got {first}")
    run_id = info.context.run_id
    if run_id is None:
        return []
    rows = basket_queries.rules(
        connection=info.context.connection,
        run_id=run_id,
        level=level.value,
        basket=items,
        min_lift=min_lift,
    )
    return await rules_of(info, rows[:first], level)
