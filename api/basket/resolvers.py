"""Resolvers of the basket queries."""

from __future__ import annotations

from functools import partial

from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.audiences.types import answer
from api.basket.types import AssociationRule, BasketLevel, rules_of
from api.context import Info
from api.costs import heavy
from api.counts import Counted
from api.runs.loaders import RunLoaders
from store import basket as basket_queries
from store.audiences.expressions import to_text
from store.basket import RuleRow
from store.errors import Forbidden, InputError

MAX_RULES = 100


async def associations(
    info: Info,
    *,
    items: list[str] | None,
    level: BasketLevel,
    min_lift: float | None,
    first: int,
    audience: ParsedExpression | None,
) -> list[AssociationRule]:
    if not 0 <= first <= MAX_RULES:
        raise InputError(f"first must be between 0 and {MAX_RULES}, got {first}")
    run_id = info.context.run_id
    if run_id is None:
        return []
    if audience is None:
        rows = basket_queries.rules(
            connection=info.context.connection, run_id=run_id, level=level.value
        )
    else:
        rows = await _segment_rules(info, audience, level)
    found = basket_queries.matching(rows, basket=items, min_lift=min_lift)
    return await rules_of(info, found[:first], level)


async def _segment_rules(
    info: Info, audience: ParsedExpression, level: BasketLevel
) -> list[RuleRow]:
    """The rules mined inside the audience, with the run's parameters (cached per run)."""
    selection, run = await selections.select(info, audience)
    count = await answer(selection, selection.count)
    if info.context.disclosure.hides(count):  # rules of a handful of baskets describe them
        raise Forbidden(
            "associations: the audience is under the minimum audience size "
            f"({info.context.settings.min_audience}) or too close to the whole run; this role may "
            "not mine rules from it"
        )
    # Rules mined from `P OR T` and from `P` would differ by T's baskets: the audience goes
    # through an operator's ledger like any count (api.ledger).
    counted = Counted(count, ("audience", selection.expression), selection.bitmap)
    await answer(selection, lambda: info.context.disclosure.shown(counted))
    report = await info.context.loaders(RunLoaders).run_report.load(run.id)
    params = (report.params if report else {}).get("basket")
    return await heavy(
        partial(
            info.context.segments.rules,
            run_id=run.id,
            size=run.persons,
            level=level.value,
            audience=to_text(audience.tree),
            persons=selection.everyone,
            params=params,
        )
    )
