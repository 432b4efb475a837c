"""What a person carted, bought, leaned to and ordered lately: the facts behind
`cart_abandoner`, `preferred_category` and the recommendations that the live path adds to.

A run keeps them for every person in one Parquet file beside its others (`FILE`, a RunFile:
renumbered to stable person numbers when written, and a forgotten person's rows dropped with
the baskets'): rows (person_idx, kind, value, weight) of kind `carted` (each distinct item of
the person's add_to_cart events), `bought` (each distinct item of their order lines) and
`category` (each category with its preference weight, `tagging.features.preference_weights`
before shares: event weights plus PURCHASE_WEIGHT per unit bought), `order` (the person's
latest orders, whose items seed their recommendations in `tagging.recommend`: the order id,
its `ts`, and its place as `weight`, 0 the latest) and `recent` (the items of those orders,
each with its order's place as `weight`). A live event, order or order line adds to a person's
`Shopping`; the tags and recommendations are then the run's rules over the result.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend

from store.live.lines import LineRow
from store.live.profiles import LiveEventRow, LiveOrderRow
from tagging import features
from tagging.identity import PERSON as P

FILE = "live_shopping.parquet"
# Each product's category (item_id, category), from the products file: an order line posted
# without a category has its product's, as a run gives it (`tagging.features.person_items`).
CATEGORIES_FILE = "live_item_categories.parquet"
CARTED, BOUGHT, CATEGORY, ORDER, RECENT = "carted", "bought", "category", "order", "recent"
CART = "add_to_cart"
# A recent order: when, its id, and its items.
Order = tuple[datetime, str, frozenset[str]]


class Activity(NamedTuple):
    """What one person did live in one step."""

    events: list[tuple[str, str | None, str | None]]  # event_type, item_id, category
    lines: list[tuple[str, int, str | None]]  # item_id, quantity, category
    orders: list[Order]


def activities(
    events: Iterable[LiveEventRow],
    orders: Iterable[LiveOrderRow],
    lines: Iterable[LineRow],
    numbers: Mapping[tuple[str, str], int],
    categories: Mapping[str, str],
) -> dict[int, Activity]:
    """Each person's events, order lines and orders, by number (`numbers`: of each identifier
    (kind, identifier); an event is its user's, else its device's); a line without a category
    has its product's (`categories`, by item id)."""
    found: dict[int, Activity] = {}

    def of(number: int) -> Activity:
        return found.setdefault(number, Activity([], [], []))

    for e in events:
        actor = ("user_id", e.user_id) if e.user_id else ("device_id", e.device_id or "")
        of(numbers[actor]).events.append((e.event_type, e.item_id, e.category))
    items: dict[str, list[LineRow]] = {}
    for line in lines:
        items.setdefault(line.order_id, []).append(line)
    for o in orders:
        theirs = of(numbers[("user_id", o.user_id)])
        bought = items.get(o.order_id, [])
        theirs.lines.extend(
            (line.item_id, line.quantity, line.category or categories.get(line.item_id))
            for line in bought
        )
        theirs.orders.append((o.ts, o.order_id, frozenset(line.item_id for line in bought)))
    return found


def shopping_file(
    con: DuckDBBackend,
    events: ir.Table | None,
    orders: ir.Table,
    items: ir.Table,
    weights: ir.Table,
    folder: Path,
    *,
    recent_orders: int,
) -> bytes:
    """The run's file of carted and bought items, category weights (`weights`: the category
    `tagging.features.preference_weights`) and the items of each person's `recent_orders`
    latest orders (see the module)."""
    # Kinds are named after the distinct items are found: DuckDB grouped by the name too.
    bought = items.select(P, value=items.item_id).distinct().mutate(kind=ibis.literal(BOUGHT))
    parts = [_row(bought)]
    if events is not None:
        carts = events.filter((events.event_type == CART) & events.item_id.notnull())
        carted = carts.select(P, value=carts.item_id).distinct()
        parts.append(_row(carted.mutate(kind=ibis.literal(CARTED))))
    leaning = weights.select(
        P, kind=ibis.literal(CATEGORY), value=weights.category, _weight=weights.weight
    )
    parts.append(_row(leaning, weight=leaning._weight))
    parts += _recent(orders, items, recent_orders)
    # Every column, so that ties (an item in two recent orders) fall the same way each run.
    table = ibis.union(*parts).order_by([P, "kind", "value", "weight", "ts"])
    path = folder / FILE
    # Snappy: the store reads the file back and writes it again (renumbered, with zstd), so
    # this copy is held only until the write. zstd here took 0.19 s more CPU at 100k users,
    # and reading it back 0.38 s more, for bytes 23% smaller.
    con.to_parquet(table, path, compression="snappy")
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def categories_file(con: DuckDBBackend, products: ir.Table, folder: Path) -> bytes:
    """The products' categories (`CATEGORIES_FILE`): one per item id (the first by name, should
    the products file name an item twice)."""
    known = products.filter(products.category.notnull())
    table = known.group_by("item_id").agg(category=known.category.min()).order_by("item_id")
    path = folder / CATEGORIES_FILE
    con.to_parquet(table, path, compression="zstd")
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def read_categories(content: bytes | None) -> dict[str, str]:
    """A run's `CATEGORIES_FILE` as a dict (none kept: empty)."""
    if not content:
        return {}
    table = pq.read_table(io.BytesIO(content))
    return dict(zip(table["item_id"].to_pylist(), table["category"].to_pylist(), strict=True))


def _row(
    table: ir.Table, *, weight: ir.IntegerValue | None = None, ts: ir.TimestampValue | None = None
) -> ir.Table:
    """A table's (person_idx, kind, value) with the file's other columns.

    The weights are written as doubles, as the file has always held them: the category
    weights were DuckDB's 128-bit sums, which took the whole column to a double in Parquet."""
    return table.select(
        P,
        "kind",
        value=table.value.cast("string"),
        weight=(ibis.literal(0, "int64") if weight is None else weight).cast("float64"),
        ts=ibis.null("timestamp") if ts is None else ts.cast("timestamp"),
    )


def _recent(orders: ir.Table, items: ir.Table, recent: int) -> list[ir.Table]:
    """Each person's `recent` latest orders, as `tagging.recommend` picks them, and their items."""
    ranked = orders.mutate(
        _n=ibis.row_number().over(group_by=P, order_by=[ibis.desc(orders.ts), orders.order_id])
    )
    latest = ranked.filter(ranked._n < recent).select(
        P, "ts", "_n", kind=ibis.literal(ORDER), value=ranked.order_id
    )
    lines = items.filter(items.item_id.notnull()).select(_order="order_id", _item="item_id")
    # The distinct items of the latest orders (of each its person and place): distinct lines
    # of every order took more than the rest of the file's parts together.
    bought = latest.join(lines, latest.value == lines._order)
    bought = bought.select(P, "_n", value=bought._item).distinct()
    bought = bought.mutate(kind=ibis.literal(RECENT))
    return [_row(latest, weight=latest._n, ts=latest.ts), _row(bought, weight=bought._n)]


@dataclass(frozen=True)
class Shopping:
    """One person's carted and bought items and category weights."""

    carted: frozenset[str] = frozenset()
    bought: frozenset[str] = frozenset()
    categories: Mapping[str, int] = field(default_factory=dict)
    recent: tuple[Order, ...] = ()  # the latest orders, latest first

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shopping:
        recent = tuple(
            (datetime.fromisoformat(ts), order_id, frozenset(items))
            for ts, order_id, items in data["recent"]
        )
        return cls(
            frozenset(data["carted"]), frozenset(data["bought"]), dict(data["categories"]), recent
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "carted": sorted(self.carted),
            "bought": sorted(self.bought),
            "categories": dict(sorted(self.categories.items())),
            "recent": [
                [ts.isoformat(), order_id, sorted(items)] for ts, order_id, items in self.recent
            ],
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

    def with_activity(self, activity: Activity, *, keep: int) -> Shopping:
        """With a step's activity added (`keep`: how many latest orders to keep); itself when
        there is none of a kind (most steps' persons only browsed)."""
        added = self.with_events(activity.events) if activity.events else self
        added = added.with_lines(activity.lines) if activity.lines else added
        return added.with_orders(activity.orders, keep=keep) if activity.orders else added

    def with_orders(self, orders: Iterable[Order], *, keep: int) -> Shopping:
        """With orders (ts, order_id, items) added to the `keep` latest (ties by order id, as a
        run breaks them)."""
        every = sorted({*self.recent, *orders}, key=lambda order: order[1])
        latest = sorted(every, key=lambda order: order[0], reverse=True)[:keep]
        return replace(self, recent=tuple(latest))

    def merged(self, other: Shopping, *, keep: int) -> Shopping:
        """One person's shopping made of two persons' (a merge): carts and purchases together,
        category weights added, the `keep` latest of both's latest orders."""
        categories = dict(self.categories)
        for category, weight in other.categories.items():
            categories[category] = categories.get(category, 0) + weight
        both = Shopping(self.carted | other.carted, self.bought | other.bought, categories)
        return both.with_orders([*self.recent, *other.recent], keep=keep)

    def seeds(self) -> frozenset[str]:
        """The items of the latest orders, which seed the recommendations."""
        return frozenset().union(*(items for _, _, items in self.recent))

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
        self._table = table.sort_by([(P, "ascending")])
        self._persons = self._table[P].to_numpy()

    def of(self, person: int) -> Shopping:
        start = int(np.searchsorted(self._persons, person, side="left"))
        end = int(np.searchsorted(self._persons, person, side="right"))
        carted: set[str] = set()
        bought: set[str] = set()
        categories: dict[str, int] = {}
        orders: dict[int, tuple[datetime, str]] = {}
        items: dict[int, set[str]] = {}
        for row in self._table.slice(start, end - start).to_pylist():
            kind, value, weight = row["kind"], row["value"], int(row["weight"])
            if kind == CARTED:
                carted.add(value)
            elif kind == BOUGHT:
                bought.add(value)
            elif kind == CATEGORY:
                categories[value] = weight
            elif kind == ORDER:
                orders[weight] = (row["ts"], value)
            else:
                items.setdefault(weight, set()).add(value)
        latest = [
            (ts, order_id, frozenset(items.get(n, ()))) for n, (ts, order_id) in orders.items()
        ]
        return Shopping(frozenset(carted), frozenset(bought), categories).with_orders(
            latest, keep=len(latest)
        )


def _empty() -> pa.Table:
    return pa.table(
        {
            P: pa.array([], pa.int64()),
            "kind": pa.array([], pa.string()),
            "value": pa.array([], pa.string()),
            "weight": pa.array([], pa.int64()),
            "ts": pa.array([], pa.timestamp("us")),
        }
    )
