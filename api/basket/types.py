"""GraphQL types of basket analysis: rules, the items they name, recommendations, the report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

import strawberry

from api.basket.loaders import BasketLoaders
from api.context import Info
from store.basket import ItemRow, RecommendationRow, RuleRow

T = TypeVar("T")


@strawberry.enum(description="What a basket holds: its items, or their categories.")
class BasketLevel(Enum):
    ITEM = "item"
    CATEGORY = "category"


@strawberry.type(description="An item (or, at category level, a category) a rule names.")
class BasketEntry:
    id: strawberry.ID = strawberry.field(description="The item id, or the category.")
    name: str | None = strawberry.field(description="The item's name, when the shop gave one.")
    category: str | None

    @classmethod
    def of(cls, entry: str, *, level: BasketLevel, item: ItemRow | None) -> BasketEntry:
        if level is BasketLevel.CATEGORY:
            return cls(id=strawberry.ID(entry), name=entry, category=entry)
        return cls(
            id=strawberry.ID(entry),
            name=None if item is None else item.name,
            category=None if item is None else item.category,
        )


async def entries(info: Info, ids: list[str], level: BasketLevel) -> dict[str, BasketEntry]:
    """BasketEntry by id, item names and categories read in one batch."""
    if level is BasketLevel.CATEGORY:
        return {i: BasketEntry.of(i, level=level, item=None) for i in ids}
    rows = await info.context.loaders(BasketLoaders).item.load_many(ids)
    return {i: BasketEntry.of(i, level=level, item=row) for i, row in zip(ids, rows, strict=True)}


@strawberry.type(description="Baskets holding the antecedents tend to hold the consequents too.")
class AssociationRule:
    rank: int = strawberry.field(description="1 = the highest lift of its level in the run.")
    level: BasketLevel
    antecedents: list[BasketEntry]
    consequents: list[BasketEntry]
    support: float = strawberry.field(description="Share of baskets holding all of the rule.")
    confidence: float = strawberry.field(
        description="Share of the baskets holding the antecedents that hold the consequents."
    )
    lift: float = strawberry.field(description="confidence / consequent support; 1 = no link.")
    leverage: float = strawberry.field(description="support - antecedent x consequent support.")
    conviction: float | None = strawberry.field(
        description="(1 - consequent support) / (1 - confidence); null when confidence is 1."
    )
    antecedent_support: float
    consequent_support: float

    @classmethod
    def of(cls, row: RuleRow, named: Mapping[str, BasketEntry]) -> AssociationRule:
        return cls(
            rank=row.rank,
            level=BasketLevel(row.level),
            antecedents=[named[a] for a in row.antecedents],
            consequents=[named[c] for c in row.consequents],
            support=row.support,
            confidence=row.confidence,
            lift=row.lift,
            leverage=row.leverage,
            conviction=row.conviction,
            antecedent_support=row.antecedent_support,
            consequent_support=row.consequent_support,
        )


async def rules_of(info: Info, rows: list[RuleRow], level: BasketLevel) -> list[AssociationRule]:
    ids = sorted({e for row in rows for e in (*row.antecedents, *row.consequents)})
    named = await entries(info, ids, level)
    return [AssociationRule.of(row, named) for row in rows]


@strawberry.type(description="An item the basket rules recommend to a person, and why.")
class Recommendation:
    item: BasketEntry
    category: str | None
    score: float = strawberry.field(
        description="The rule's confidence minus the item's base rate: how much likelier the "
        "person's recent baskets make it than it is for anyone."
    )
    because: AssociationRule = strawberry.field(description="The rule that proposed it.")


async def recommendations_of(info: Info, rows: list[RecommendationRow]) -> list[Recommendation]:
    rules = await info.context.loaders(BasketLoaders).item_rule.load_many(
        [row.rule_rank for row in rows]
    )
    found = [rule for rule in rules if rule is not None]
    explained = {rule.rank: rule for rule in await rules_of(info, found, BasketLevel.ITEM)}
    named = await entries(info, [row.item_id for row in rows], BasketLevel.ITEM)
    return [
        Recommendation(
            item=named[row.item_id],
            category=named[row.item_id].category,
            score=row.score,
            because=explained[row.rule_rank],
        )
        for row in rows
        if row.rule_rank in explained
    ]


@strawberry.type(description="What mining saw at one level.")
class BasketLevelReport:
    level: BasketLevel
    baskets: int = strawberry.field(description="Orders with at least one entry.")
    multi_item_baskets: int = strawberry.field(description="Baskets with two or more entries.")
    frequent_items: int = strawberry.field(description="Entries at or above the minimum support.")
    itemsets: int = strawberry.field(description="Frequent itemsets of two or more entries.")
    rules: int
    seconds: float
    requested_min_support: float | None = strawberry.field(
        description="The run's minimum support (none in runs from before mining was bounded)."
    )
    min_support: float | None = strawberry.field(
        description="The support mined at: above the requested one when the candidate "
        "itemsets would not fit in maxItemsets."
    )
    max_itemsets: int | None = strawberry.field(description="The cap on frequent itemsets.")
    max_len: int | None = strawberry.field(description="The longest itemset mined.")


@strawberry.type(description="The basket stage of a run.")
class BasketReport:
    levels: list[BasketLevelReport]
    note: str | None = strawberry.field(description="Why there are no rules, when there are none.")

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> BasketReport:
        levels = [
            BasketLevelReport(
                level=BasketLevel(level),
                baskets=int(r["baskets"]),
                multi_item_baskets=int(r["multi_item_baskets"]),
                frequent_items=int(r["frequent_items"]),
                itemsets=int(r["itemsets"]),
                rules=int(r["rules"]),
                seconds=float(r["seconds"]),
                requested_min_support=_optional(r, "requested_min_support", float),
                min_support=_optional(r, "min_support", float),
                max_itemsets=_optional(r, "max_itemsets", int),
                max_len=_optional(r, "max_len", int),
            )
            for level, r in report.items()
            if isinstance(r, Mapping)
        ]
        note = report.get("note")
        return cls(levels=levels, note=None if note is None else str(note))


def _optional(report: Mapping[str, Any], name: str, kind: Callable[[Any], T]) -> T | None:
    value = report.get(name)
    return None if value is None else kind(value)
