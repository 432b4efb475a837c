"""DataLoaders for basket rules, recommendations and the items they name."""

from __future__ import annotations

from collections import defaultdict
from functools import cached_property
from typing import Any

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import basket as basket_queries
from store.basket import ItemRow, RecommendationRow, RuleRow


def _item_rules_by_rank(
    *, connection: Connection, run_id: int | None
) -> DataLoader[int, RuleRow | None]:
    """The run's item-level rules by rank (what a recommendation names as its reason)."""

    async def load(ranks: list[int]) -> list[RuleRow | None]:
        if run_id is None:
            return [None] * len(ranks)
        rows = basket_queries.rules_by_rank(
            connection=connection, run_id=run_id, level="item", ranks=ranks
        )
        by_rank = {row.rank: row for row in rows}
        return [by_rank.get(rank) for rank in ranks]

    return DataLoader(load_fn=load)


def _item(*, connection: Connection, run_id: int | None) -> DataLoader[str, ItemRow | None]:
    """Name and category of items by id; None for an item the run does not describe."""

    async def load(item_ids: list[str]) -> list[ItemRow | None]:
        if run_id is None:
            return [None] * len(item_ids)
        rows = basket_queries.items(connection=connection, run_id=run_id, item_ids=item_ids)
        by_id = {row.item_id: row for row in rows}
        return [by_id.get(item_id) for item_id in item_ids]

    return DataLoader(load_fn=load)


def _recommendations_of_person(
    *, connection: Connection, run_id: int | None
) -> DataLoader[int, list[RecommendationRow]]:
    """Each person's recommendations, best first."""

    async def load(person_idxs: list[int]) -> list[list[RecommendationRow]]:
        by_person: defaultdict[int, list[RecommendationRow]] = defaultdict(list)
        if run_id is not None:
            rows = basket_queries.recommendations(
                connection=connection, run_id=run_id, person_idxs=person_idxs
            )
            for row in rows:
                by_person[row.person_idx].append(row)
        return [by_person[person_idx] for person_idx in person_idxs]

    return DataLoader(load_fn=load)


def _basket_report(*, connection: Connection) -> DataLoader[int, dict[str, Any] | None]:
    """The basket section of runs' reports, by run id."""

    async def load(run_ids: list[int]) -> list[dict[str, Any] | None]:
        return [
            basket_queries.report(connection=connection, run_id=run_id, section="basket")
            for run_id in run_ids
        ]

    return DataLoader(load_fn=load)


class BasketLoaders:
    """The DataLoaders of basket rules, items and recommendations for one request, each made
    on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection
        self._run_id = run_id

    @cached_property
    def item_rule(self) -> DataLoader[int, RuleRow | None]:
        return _item_rules_by_rank(connection=self._connection, run_id=self._run_id)

    @cached_property
    def item(self) -> DataLoader[str, ItemRow | None]:
        return _item(connection=self._connection, run_id=self._run_id)

    @cached_property
    def recommendations_of_person(self) -> DataLoader[int, list[RecommendationRow]]:
        return _recommendations_of_person(connection=self._connection, run_id=self._run_id)

    @cached_property
    def basket_report(self) -> DataLoader[int, dict[str, Any] | None]:
        return _basket_report(connection=self._connection)
