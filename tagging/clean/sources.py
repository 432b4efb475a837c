"""Each source but the events, cleaned: its checks and how its good rows are typed.

Users need an id; orders an id, a user, a timestamp and an amount; order items a usable order;
identities two identifiers; touches a person, a timestamp and a channel. Each function gives the
source's marks and typing (`tagging.clean.marks.Cleaning`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tagging.clean.marks import (
    KEPT,
    Cleaning,
    Step,
    marks,
    parse_age,
    quarantined_rows,
    with_repeats,
)
from tagging.ingest import ROW
from tagging.parsing import (
    GENDERS,
    NOT_SAID,
    bad_money,
    in_vocabulary,
    parse_date,
    parse_money,
    parse_timestamp,
)


def clean_users(raw: ir.Table, *, as_of: datetime, genders: dict[str, str] = GENDERS) -> Cleaning:
    """Users need an id; a bad date or age leaves the field empty rather than losing the user.

    Genders are read in `genders`' spellings (`男`, `F`, `female`); another value is `other`.
    """
    t = with_repeats(raw, "user_id")
    t = t.mutate(_registered=parse_timestamp(t.registered_at))
    reason = ibis.cases(
        (t.user_id.isnull(), "missing_user_id"),
        (t._dup, "duplicate_user_id"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        gender = in_vocabulary(good.gender, {**NOT_SAID, **genders}, other="other")
        return good.select(
            "user_id",
            "city",
            "region",
            "occupation",
            "member_level",
            "channel",
            gender=gender,
            registered_at=good._registered,
            birth_date=parse_date(good.birth_date),
            age=parse_age(good.age),
        )

    marked = marks(t, reason, t._registered > as_of, _registered=t._registered)
    return Cleaning("users", marked, typed)


def clean_orders(raw: ir.Table, *, as_of: datetime) -> Cleaning:
    """Orders need an id, a user, a timestamp and a non-negative amount.

    A user the users file does not list is no reason to drop an order: a CRM table that covers
    some buyers is the normal case, and those buyers only get no demographic tags.
    """
    t = with_repeats(raw, "order_id")
    t = t.mutate(_ts=parse_timestamp(t.ts))
    reason = ibis.cases(
        (t.order_id.isnull(), "missing_order_id"),
        (t.user_id.isnull(), "missing_user_id"),
        (t._ts.isnull(), "bad_timestamp"),
        (t.amount.isnull() | bad_money(t.amount), "bad_amount"),
        (parse_money(t.amount) < 0, "negative_amount"),
        (bad_money(t.discount), "bad_discount"),
        (t._dup, "duplicate_order_id"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "order_id",
            "user_id",
            "coupon_code",
            "pay_method",
            "channel",
            ts=good._ts,
            amount=parse_money(good.amount),
            discount=parse_money(good.discount).fill_null(0.0),
        )

    return Cleaning("orders", marks(t, reason, t._ts > as_of, _ts=t._ts), typed)


@dataclass(frozen=True)
class OrderItemCleaning(Cleaning):
    """Order items, whose quarantined lines keep the user of the order they name: a line names
    no person itself, and forgetting a person must find the lines of their orders
    (tagging.forgetting, store.suppressions)."""

    orders_raw: ir.Table

    def quarantined(self, bad: ir.Table, raw_columns: Sequence[str]) -> ir.Table:
        # The user of the order's first row that names one (a repeated order id's first row is
        # the one kept); the orders file's other rows of the id are quarantined as repeats.
        orders = self.orders_raw
        named = orders.filter(orders.order_id.isin(bad.order_id) & orders.user_id.notnull())
        owners = named.group_by("order_id").agg(_order_user_id=named.user_id.argmin(named[ROW]))
        lines = bad.left_join(owners, "order_id")
        return quarantined_rows(lines, raw_columns, self.source, order_user_id=lines._order_user_id)


def clean_order_items(raw: ir.Table, *, orders_raw: ir.Table, orders: Step) -> Cleaning:
    """Items must belong to a usable order of the orders file and have a positive quantity.

    Items of a quarantined order go with it; items of an order after as_of are after as_of too.
    """
    # NOT IN against a column holding NULL is never true: compare with the non-null ids only.
    known_ids = orders_raw.filter(orders_raw.order_id.notnull()).order_id
    kept_ids, later_ids = orders.kept.order_id, orders.after_as_of.order_id
    quantity = raw.quantity.try_cast("int64")
    reason = ibis.cases(
        (raw.order_id.isnull(), "missing_order_id"),
        (raw.item_id.isnull(), "missing_item_id"),
        (raw.order_id.notin(known_ids), "unknown_order"),
        (quantity.isnull() | (quantity <= 0), "bad_quantity"),
        (raw.price.isnull() | bad_money(raw.price) | (parse_money(raw.price) < 0), "bad_price"),
        (raw.order_id.notin(kept_ids) & raw.order_id.notin(later_ids), "order_quarantined"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "order_id",
            "item_id",
            "category",
            "brand",
            quantity=good.quantity.cast("int64"),
            price=parse_money(good.price),
        )

    return OrderItemCleaning(
        "order_items", marks(raw, reason, raw.order_id.isin(later_ids)), typed, orders_raw
    )


def clean_products(raw: ir.Table) -> Cleaning:
    t = with_repeats(raw, "item_id")
    reason = ibis.cases(
        (t.item_id.isnull(), "missing_item_id"),
        (t._dup, "duplicate_item_id"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        return good.select("item_id", "category", "brand", "name", price=parse_money(good.price))

    return Cleaning("products", marks(t, reason, ibis.literal(False)), typed)


def clean_identities(raw: ir.Table) -> Cleaning:
    reason = ibis.cases((raw.id_a.isnull() | raw.id_b.isnull(), "missing_identifier"), else_=KEPT)

    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "id_a", "id_b", kind_a=good.kind_a.fill_null("id"), kind_b=good.kind_b.fill_null("id")
        )

    return Cleaning("identities", marks(raw, reason, ibis.literal(False)), typed)


TOUCH_KINDS = ("impression", "click", "send", "open", "holdout")


def clean_touches(raw: ir.Table, *, as_of: datetime) -> Cleaning:
    """Marketing touches need a person (user or device id), a timestamp and a channel; a kind
    outside the contract's (impression, click, send, open, holdout) or a cost that is no
    non-negative amount quarantines the row. No kind means a contact (`send`)."""
    t = raw.mutate(_ts=parse_timestamp(raw.ts), _kind=raw.kind.strip().lower())
    reason = ibis.cases(
        (t.user_id.isnull() & t.device_id.isnull(), "missing_identity"),
        (t._ts.isnull(), "bad_timestamp"),
        (t.channel.isnull(), "missing_channel"),
        (t._kind.notnull() & t._kind.notin(TOUCH_KINDS), "bad_kind"),
        (bad_money(t.cost) | (parse_money(t.cost) < 0), "bad_cost"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "user_id",
            "device_id",
            "campaign",
            ts=good._ts,
            channel=good.channel,
            kind=good._kind.fill_null("send"),
            cost=parse_money(good.cost),
        )

    return Cleaning("touches", marks(t, reason, t._ts > as_of, _ts=t._ts, _kind=t._kind), typed)
