"""Orders and their items: checked as their files are read, then what needs the whole file.

As the events (`tagging.clean.events`), each file is read once: the columns later stages use,
the parsed values (timestamp, amount, discount; quantity, price), the reason a row is bad and,
for a bad row only, its text. What one row cannot tell is decided after: a repeated order id
(`clean_orders`), an item of an order the orders file lacks or quarantined (`clean_order_items`);
the text of the rows that end in quarantine for it is read again from the file.

Orders need an id, a user, a timestamp and a non-negative amount. A user the users file does not
list is no reason to drop an order: a CRM table that covers some buyers is the normal case, and
those buyers only get no demographic tags. Items must belong to a usable order of the orders
file and have a positive quantity; items of a quarantined order go with it, items of an order
after as_of are after as_of too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tagging.clean.marks import (
    KEPT,
    CheckedCleaning,
    after,
    checked_rows,
    late_marks,
    quarantined_rows,
)
from tagging.ingest import CONTRACT, ROW
from tagging.parsing import parse_money, parse_timestamp

ORDER_COLUMNS = ("order_id", "user_id", "coupon_code", "pay_method", "channel")
ITEM_COLUMNS = ("order_id", "item_id", "category", "brand")
# Reasons of an item's own that a missing order outranks (the order of `check_order_items`).
ITEM_VALUE_REASONS = ("bad_quantity", "bad_price")


def check_orders(raw: ir.Table) -> ir.Table:
    """What is kept of each order as the file is read: its columns, `_ts`, `_amount`,
    `_discount` (parsed), `_reason` for a bad row and `_raw`. A repeated order id needs the
    whole file: `clean_orders`."""
    # Parsed in a projection of their own (a view): written into both the reason's CASE and
    # the output, each value would be parsed twice.
    t = raw.mutate(
        _ts=parse_timestamp(raw.ts),
        _amount=parse_money(raw.amount),
        _discount=parse_money(raw.discount),
    ).view()
    reason = ibis.cases(
        (t.order_id.isnull(), "missing_order_id"),
        (t.user_id.isnull(), "missing_user_id"),
        (t._ts.isnull(), "bad_timestamp"),
        (t._amount.isnull(), "bad_amount"),
        (t._amount < 0, "negative_amount"),
        (t.discount.notnull() & t._discount.isnull(), "bad_discount"),
        else_=KEPT,
    )
    parsed = ("_ts", "_amount", "_discount")
    return checked_rows(t, reason, text=CONTRACT["orders"].columns, keep=ORDER_COLUMNS + parsed)


def clean_orders(checked: ir.Table, *, as_of: datetime) -> CheckedCleaning:
    """Every order of a repeated id but its first in the file (good or bad) is a duplicate."""
    keyed = checked.filter(checked.order_id.notnull())
    ids = keyed.group_by("order_id").agg(_first=keyed[ROW].min(), _n=ibis._.count())
    firsts = ids.filter(ids._n > 1).drop("_n")
    good = checked.filter(checked._reason.isnull())
    marked = good.join(firsts, "order_id")
    repeats = marked.filter(marked[ROW] != marked._first)
    marks = repeats.select(ROW, _reason=ibis.literal("duplicate_order_id"))
    return CheckedCleaning("orders", marks, typed_orders, checked=checked, later=after(as_of))


def typed_orders(good: ir.Table) -> ir.Table:
    """Checked orders as later stages read them."""
    return good.select(
        *ORDER_COLUMNS,
        ts=good._ts,
        amount=good._amount,
        discount=good._discount.fill_null(0.0),
    )


def check_order_items(raw: ir.Table) -> ir.Table:
    """What is kept of each order item as the file is read: its columns, `_quantity` and
    `_price` (parsed), `_reason` for a bad row and `_raw`. Whether its order is usable needs
    the orders: `clean_order_items`."""
    t = raw.mutate(_quantity=raw.quantity.try_cast("int64"), _price=parse_money(raw.price)).view()
    reason = ibis.cases(
        (t.order_id.isnull(), "missing_order_id"),
        (t.item_id.isnull(), "missing_item_id"),
        (t._quantity.isnull() | (t._quantity <= 0), "bad_quantity"),
        (t._price.isnull() | (t._price < 0), "bad_price"),
        else_=KEPT,
    )
    text = CONTRACT["order_items"].columns
    return checked_rows(t, reason, text=text, keep=(*ITEM_COLUMNS, "_quantity", "_price"))


def clean_order_items(
    checked: ir.Table, *, orders: ir.Table, kept: ir.Table, later: ir.Table
) -> CheckedCleaning:
    """Items of an order id the orders file (`orders`, as checked) lacks, then, among good
    items, those of an order neither `kept` nor `later` (typed orders: quarantined)."""
    # NOT IN against a column holding NULL is never true: compare with the non-null ids only.
    known_ids = orders.filter(orders.order_id.notnull()).order_id
    kept_ids, later_ids = kept.order_id, later.order_id
    own = checked._reason
    may_be_unknown = own.isnull() | own.isin(ITEM_VALUE_REASONS)
    reason = ibis.cases(
        (may_be_unknown & checked.order_id.notin(known_ids), "unknown_order"),
        (
            own.isnull() & checked.order_id.notin(kept_ids) & checked.order_id.notin(later_ids),
            "order_quarantined",
        ),
        else_=KEPT,
    )
    return OrderItemCleaning(
        "order_items",
        late_marks(checked, reason),
        typed_order_items,
        checked=checked,
        later=_of_orders(later_ids),
        orders=orders,
    )


@dataclass(frozen=True)
class OrderItemCleaning(CheckedCleaning):
    """Order items, whose quarantined lines keep the user of the order they name: a line names
    no person itself, and forgetting a person must find the lines of their orders
    (tagging.forgetting, store.suppressions)."""

    orders: ir.Table  # as checked

    def quarantine(self, early: ir.Table, late: ir.Table, raw_columns: Sequence[str]) -> ir.Table:
        early, late = self._with_owner(early), self._with_owner(late)
        own = early.select(
            source=ibis.literal(self.source),
            row_number=early[ROW],
            reason=early._reason,
            raw=early._raw,
            order_user_id=early._order_user_id,
        )
        read_again = quarantined_rows(
            late, raw_columns, self.source, order_user_id=late._order_user_id
        )
        return own.union(read_again)

    def _with_owner(self, lines: ir.Table) -> ir.Table:
        # The user of the order's first row that names one (a repeated order id's first row is
        # the one kept); the orders file's other rows of the id are quarantined as repeats.
        orders = self.orders
        named = orders.filter(orders.order_id.isin(lines.order_id) & orders.user_id.notnull())
        owners = named.group_by("order_id").agg(_order_user_id=named.user_id.argmin(named[ROW]))
        return lines.left_join(owners, "order_id")


def _of_orders(order_ids: ir.Column) -> Callable[[ir.Table], ir.BooleanValue]:
    return lambda rows: rows.order_id.isin(order_ids)


def typed_order_items(good: ir.Table) -> ir.Table:
    return good.select(*ITEM_COLUMNS, quantity=good._quantity, price=good._price)
