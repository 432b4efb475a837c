"""Reads of a run's basket rules, recommendations and the items they name.

A run keeps hundreds to a few thousand rules per level, so rules are read whole per level
(one indexed range of the primary key) and filtered in Python.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from store.models import (
    AssociationRule,
    CatalogItem,
    Recommendation,
    RunFile,
    RunReport,
    table_of,
)

BASKETS_FILE = "baskets.parquet"

_rules = table_of(AssociationRule)
_recommendations = table_of(Recommendation)
_items = table_of(CatalogItem)
_reports = table_of(RunReport)
_files = table_of(RunFile)


class RuleRow(NamedTuple):
    level: str
    rank: int
    antecedents: list[str]
    consequents: list[str]
    antecedent_support: float
    consequent_support: float
    support: float
    confidence: float
    lift: float
    leverage: float
    conviction: float | None


class RecommendationRow(NamedTuple):
    person_idx: int
    rank: int
    item_id: str
    score: float
    rule_rank: int


class ItemRow(NamedTuple):
    item_id: str
    name: str | None
    category: str | None


_RULES = (
    select(*(_rules.c[name] for name in RuleRow._fields))
    .where(_rules.c.run_id == bindparam("run_id"), _rules.c.level == bindparam("level"))
    .order_by(_rules.c.rank)
)
_RULES_BY_RANK = select(*(_rules.c[name] for name in RuleRow._fields)).where(
    _rules.c.run_id == bindparam("run_id"),
    _rules.c.level == bindparam("level"),
    _rules.c.rank.in_(bindparam("ranks", expanding=True)),
)
_RECOMMENDATIONS = (
    select(*(_recommendations.c[name] for name in RecommendationRow._fields))
    .where(
        _recommendations.c.run_id == bindparam("run_id"),
        _recommendations.c.person_idx.in_(bindparam("person_idxs", expanding=True)),
    )
    .order_by(_recommendations.c.person_idx, _recommendations.c.rank)
)
_ITEMS = select(*(_items.c[name] for name in ItemRow._fields)).where(
    _items.c.run_id == bindparam("run_id"),
    _items.c.item_id.in_(bindparam("item_ids", expanding=True)),
)
_REPORT = select(_reports.c.report).where(
    _reports.c.run_id == bindparam("run_id"), _reports.c.section == bindparam("section")
)


def rules(
    *,
    connection: Connection,
    run_id: int,
    level: str,
    basket: list[str] | None = None,
    min_lift: float | None = None,
) -> list[RuleRow]:
    """The level's rules, strongest first; with `basket`, only those whose antecedents are all
    in it (the rules that fire for that basket), none of whose consequents already is."""
    found = [
        RuleRow(*row) for row in connection.execute(_RULES, {"run_id": run_id, "level": level})
    ]
    return matching(found, basket=basket, min_lift=min_lift)


def matching(
    rules: list[RuleRow], *, basket: list[str] | None, min_lift: float | None
) -> list[RuleRow]:
    """The rules at or above `min_lift` that fire for `basket` (all of them without one)."""
    found = rules
    if min_lift is not None:
        found = [rule for rule in found if rule.lift >= min_lift]
    if basket is not None:
        held = set(basket)
        found = [
            rule
            for rule in found
            if held.issuperset(rule.antecedents) and held.isdisjoint(rule.consequents)
        ]
    return found


def rules_by_rank(
    *, connection: Connection, run_id: int, level: str, ranks: list[int]
) -> list[RuleRow]:
    parameters = {"run_id": run_id, "level": level, "ranks": ranks}
    return [RuleRow(*row) for row in connection.execute(_RULES_BY_RANK, parameters)]


def recommendations(
    *, connection: Connection, run_id: int, person_idxs: list[int]
) -> list[RecommendationRow]:
    """Recommendations of several persons, by person then rank."""
    parameters = {"run_id": run_id, "person_idxs": person_idxs}
    return [RecommendationRow(*row) for row in connection.execute(_RECOMMENDATIONS, parameters)]


def items(*, connection: Connection, run_id: int, item_ids: list[str]) -> list[ItemRow]:
    """Name and category of the items a rule or recommendation of the run mentions."""
    parameters = {"run_id": run_id, "item_ids": item_ids}
    return [ItemRow(*row) for row in connection.execute(_ITEMS, parameters)]


def report(*, connection: Connection, run_id: int, section: str) -> dict[str, Any] | None:
    """One section of the run's reports (for example "basket"), or None."""
    found = connection.execute(_REPORT, {"run_id": run_id, "section": section}).scalar()
    return None if found is None else dict(found)


def baskets_file(*, connection: Connection, run_id: int) -> bytes | None:
    """The run's order baskets as Parquet (person_idx, basket, item_id, category), or None."""
    statement = select(_files.c.content).where(
        _files.c.run_id == run_id, _files.c.name == BASKETS_FILE
    )
    content = connection.execute(statement).scalar()
    return None if content is None else bytes(content)
