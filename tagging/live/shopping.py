"""What a person carted, bought and leaned to: the facts behind `cart_abandoner` and
`preferred_category` that the live path adds to.

A run keeps them for every person in one Parquet file beside its others (`FILE`, a RunFile:
renumbered to stable person numbers when written, and a forgotten person's rows dropped with
the baskets'): rows (person_idx, kind, value, weight) of kind `carted` (each distinct item of
the person's add_to_cart events), `bought` (each distinct item of their order lines) and
`category` (each category with its preference weight, `tagging.features.preference_weights`
before shares: event weights plus PURCHASE_WEIGHT per unit bought). A live event or order line
adds to a person's `Shopping`; the tags are then the run's rules over the result.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend

from tagging import features
from tagging.identity import PERSON as P
from tagging.ingest import empty_table

FILE = "live_shopping.parquet"
CARTED, BOUGHT, CATEGORY = "carted", "bought", "category"
CART = "add_to_cart"


def shopping_file(
    con: DuckDBBackend, events: ir.Table | None, items: ir.Table, folder: Path
) -> bytes:
    """The run's file of carted and bought items and category weights (see the module)."""
    bought = items.select(P, kind=ibis.literal(BOUGHT), value=items.item_id).distinct()
    parts = [bought.mutate(weight=ibis.literal(0, "int64"))]
    if events is not None:
        carts = events.filter((events.event_type == CART) & events.item_id.notnull())
        carted = carts.select(P, kind=ibis.literal(CARTED), value=carts.item_id).distinct()
        parts.append(carted.mutate(weight=ibis.literal(0, "int64")))
    no_events = empty_table(**{P: "int64"}, event_type="string", category="string")
    weights = features.preference_weights(
        no_events if events is None else events, items, "category"
    )
    parts.append(
        weights.select(
            P,
            kind=ibis.literal(CATEGORY),
            value=weights.category,
            weight=weights.weight.cast("int64"),
        )
    )
    table = ibis.union(*parts).order_by([P, "kind", "value"])
    path = folder / FILE
    con.to_parquet(table, path, compression="zstd")
    try:
        return path.read_bytes()
    finally:
        path.unlink()


@dataclass(frozen=True)
class Shopping:
    """One person's carted and bought items and category weights."""

    carted: frozenset[str] = frozenset()
    bought: frozenset[str] = frozenset()
    categories: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shopping:
        return cls(frozenset(data["carted"]), frozenset(data["bought"]), dict(data["categories"]))

    def as_json(self) -> dict[str, Any]:
        return {
            "carted": sorted(self.carted),
            "bought": sorted(self.bought),
            "categories": dict(sorted(self.categories.items())),
        }

    def with_events(self, events: Iterable[tuple[str, str | None, str | None]]) -> Shopping:
        """With events (event_type, item_id, category) added."""
        carted, categories = set(self.carted), dict(self.categories)
        for event_type, item_id, category in events:
            if event_type == CART and item_id is not None:
                carted.add(item_id)
            weight = features.EVENT_WEIGHTS.get(event_type, 0)
            if category is not None:
                categories[category] = categories.get(category, 0) + weight
        return replace(self, carted=frozenset(carted), categories=categories)

    def with_lines(self, lines: Iterable[tuple[str, int, str | None]]) -> Shopping:
        """With order lines (item_id, quantity, category) added."""
        bought, categories = set(self.bought), dict(self.categories)
        for item_id, quantity, category in lines:
            bought.add(item_id)
            if category is not None:
                weight = quantity * features.PURCHASE_WEIGHT
                categories[category] = categories.get(category, 0) + weight
        return replace(self, bought=frozenset(bought), categories=categories)

    def features(self) -> dict[str, Any]:
        """carted_items and cart_abandon_rate, as a run's features give them (None: no cart)."""
        if not self.carted:
            return {"carted_items": None, "cart_abandon_rate": None}
        left = len(self.carted - self.bought)
        return {"carted_items": len(self.carted), "cart_abandon_rate": left / len(self.carted)}

    def weights(self) -> dict[str, int]:
        """The categories the person leans to at all (a run keeps weights above zero)."""
        return {c: w for c, w in self.categories.items() if w > 0}


class RunShopping:
    """A run's shopping file, read once; each person's part found by a binary search."""

    def __init__(self, content: bytes | None) -> None:
        table = pq.read_table(io.BytesIO(content)) if content else _empty()
        table = table.sort_by([(P, "ascending")])
        self._persons = table[P].to_numpy()
        self._kinds = table["kind"].to_pylist()
        self._values = table["value"].to_pylist()
        self._weights = table["weight"].to_numpy()

    def of(self, person: int) -> Shopping:
        start = int(np.searchsorted(self._persons, person, side="left"))
        end = int(np.searchsorted(self._persons, person, side="right"))
        carted: set[str] = set()
        bought: set[str] = set()
        categories: dict[str, int] = {}
        for i in range(start, end):
            kind, value = self._kinds[i], self._values[i]
            if kind == CARTED:
                carted.add(value)
            elif kind == BOUGHT:
                bought.add(value)
            else:
                categories[value] = int(self._weights[i])
        return Shopping(frozenset(carted), frozenset(bought), categories)


def _empty() -> pa.Table:
    return pa.table(
        {
            P: pa.array([], pa.int64()),
            "kind": pa.array([], pa.string()),
            "value": pa.array([], pa.string()),
            "weight": pa.array([], pa.int64()),
        }
    )
