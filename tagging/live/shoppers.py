"""The shopping side of the live path on top of one committed run: each person's carts,
purchases, category weights and latest orders (`tagging.live.shopping`), and the run's item
rules that recommend to them (`tagging.live.recommending`).

An overlay row's facts keep the person's `Shopping` under SHOPPING and, once an order of
theirs was taken live, their recommendations under `store.live.profiles.RECOMMENDED`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection

from store import basket as basket_queries
from store.live.profiles import RECOMMENDED, LiveRow, Tags
from store.runs import reads as run_reads
from tagging.basket import BasketParams
from tagging.live.recommending import ItemRule, ItemRules
from tagging.live.shopping import (
    CATEGORIES_FILE,
    FILE,
    Activity,
    RunShopping,
    Shopping,
    read_categories,
)

SHOPPING = "shopping"
NOTHING = Activity([], [], [])
# The maintained keys computed from the shopping (`tagging.live.rules`).
KEYS = ("cart_abandoner", "preferred_category")


class Shoppers:
    """Every person's shopping on run `run_id`: the run's file, and the overlay's persons as
    they are now (kept in step with the store). A run made before runs kept the file
    (`kept` None) leaves the keys computed from it, and the recommendations, the run's."""

    def __init__(
        self,
        *,
        kept: RunShopping | None,
        rules: ItemRules,
        params: BasketParams,
        categories: dict[str, str] | None = None,
    ) -> None:
        self._kept = kept
        self.categories = categories or {}  # each product's category, by item id
        self._rules = rules
        self._params = params
        self._live: dict[int, Shopping] = {}
        self._recommended: dict[int, Any] = {}  # the overlay's persons' recommendations

    @classmethod
    def read(
        cls,
        *,
        connection: Connection,
        run_id: int,
        params: dict[str, Any],
        overlay: Iterable[LiveRow],
    ) -> Shoppers:
        """The run's shopping file and item rules, and the overlay rows' shopping."""
        rows = basket_queries.rules(connection=connection, run_id=run_id, level="item")
        rules = ItemRules(
            ItemRule(
                r.rank,
                frozenset(r.antecedents),
                tuple(r.consequents),
                r.confidence - r.consequent_support,  # the score, as tagging.recommend's
            )
            for r in rows
        )
        content = run_reads.run_file(connection=connection, run_id=run_id, name=FILE)
        found = cls(
            kept=None if content is None else RunShopping(content),
            rules=rules,
            params=BasketParams(**(params.get("basket") or {})),
            categories=read_categories(
                run_reads.run_file(connection=connection, run_id=run_id, name=CATEGORIES_FILE)
            ),
        )
        overlay = list(overlay)
        found.remember(
            {
                r.person_idx: Shopping.from_json(r.facts[SHOPPING])
                for r in overlay
                if SHOPPING in r.facts
            },
            overlay,
        )
        return found

    def of(
        self, person: int, activity: Activity = NOTHING, *, merged: Iterable[int] = ()
    ) -> Shopping:
        """The person's shopping as it is now, with the shopping of the persons `merged` into
        them and `activity` added."""
        keep = self._params.recent_orders
        found = self._now(person)
        for other in merged:
            found = found.merged(self._now(other), keep=keep)
        return found.with_activity(activity, keep=keep)

    def _now(self, person: int) -> Shopping:
        found = self._live.get(person)
        if found is None:
            found = Shopping() if self._kept is None else self._kept.of(person)
        return found

    def tags(self, computed: Tags, run: Tags) -> Tags:
        """The maintained tags computed, with the shopping's keys the run's when the run kept
        no shopping."""
        if self._kept is not None:
            return computed
        kept = {k: v for k, v in computed.items() if k not in KEYS}
        return kept | {k: run[k] for k in KEYS if k in run}

    def remember(self, shopping: dict[int, Shopping], rows: Iterable[LiveRow]) -> None:
        """The persons' shopping, and the recommendations their overlay `rows` keep, as
        written."""
        self._live |= shopping
        self._recommended |= {
            r.person_idx: r.facts[RECOMMENDED] for r in rows if RECOMMENDED in r.facts
        }

    def forget(self, person: int) -> None:
        self._live.pop(person, None)
        self._recommended.pop(person, None)

    def facts(self, person: int, shopping: Shopping, *, fire: bool) -> dict[str, Any]:
        """What an overlay row's facts keep of the person's shopping: it, and their
        recommendations, fired again when `fire` (an order of theirs, or a merge, changed
        their latest orders), else as fired before (none: the run's stand)."""
        kept: dict[str, Any] = {SHOPPING: shopping.as_json()}
        if fire and self._kept is not None:
            kept[RECOMMENDED] = [list(r) for r in self._rules.recommend(shopping, self._params)]
        elif person in self._recommended:
            kept[RECOMMENDED] = self._recommended[person]
        return kept
