"""Order lines taken in live: what each live order bought, as the `order_items` file holds it.

A line is posted with its order, in the same request (`"source": "order_items"` beside the
order's `"source": "orders"`), and stored in the transaction that stores the order: the live
path applies an order's lines when it applies the order, and an order sent again is repeated
with its lines. Lines of an order not in the request are refused (`order_not_posted`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Column, Connection, Integer, delete, select
from sqlmodel import Field, SQLModel

from store.live.log import LiveOrder
from store.models import table_of

_SEQUENCE = BigInteger().with_variant(Integer, "sqlite")


class LiveOrderLine(SQLModel, table=True):
    """One line of a live order, typed as batch cleaning types the order items file."""

    __tablename__ = "live_order_lines"

    seq: int | None = Field(default=None, sa_column=Column(_SEQUENCE, primary_key=True))
    received_at: datetime
    order_id: str = Field(index=True)
    item_id: str
    quantity: int
    price: float
    category: str | None = None
    brand: str | None = None


_lines = table_of(LiveOrderLine)
_orders = table_of(LiveOrder)


class LineRow(NamedTuple):
    order_id: str
    item_id: str
    quantity: int
    category: str | None


def append(
    *, connection: Connection, lines: Sequence[Mapping[str, Any]], received_at: datetime
) -> None:
    """Store the lines of orders stored in this transaction, in the caller's transaction."""
    if lines:
        connection.execute(
            _lines.insert(), [{**line, "received_at": received_at} for line in lines]
        )


def lines_of(*, connection: Connection, order_ids: Iterable[str]) -> list[LineRow]:
    """The stored lines of these orders, in the order they were stored."""
    wanted = sorted(set(order_ids))
    found: list[tuple[int, LineRow]] = []
    columns = [_lines.c.seq, *(_lines.c[name] for name in LineRow._fields)]
    for start in range(0, len(wanted), 10_000):
        statement = select(*columns).where(_lines.c.order_id.in_(wanted[start : start + 10_000]))
        found += [(seq, LineRow(*rest)) for seq, *rest in connection.execute(statement)]
    return [line for _, line in sorted(found, key=lambda pair: pair[0])]


def forget(*, connection: Connection, user_ids: Sequence[str]) -> int:
    """Delete the lines of the live orders of these user ids, in the caller's transaction;
    how many there were."""
    theirs = select(_orders.c.order_id).where(_orders.c.user_id.in_(list(user_ids)))
    result = connection.execute(delete(_lines).where(_lines.c.order_id.in_(theirs)))
    return int(result.rowcount or 0)
