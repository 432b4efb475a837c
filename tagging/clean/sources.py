"""Each source but the events, cleaned: its checks and how its good rows are typed.

Users need an id; identities two identifiers; touches a person, a timestamp and a channel (orders
and their items: `tagging.clean.orders`). Each function gives the source's marks and typing
(`tagging.clean.marks.Cleaning`); identities are checked as their file is read
(`check_identities`), so their cleaning has nothing left to mark.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

from tagging.clean.marks import (
    KEPT,
    CheckedCleaning,
    Cleaning,
    checked_rows,
    late_marks,
    marks,
    parse_age,
    with_repeats,
)
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


IDENTITY_COLUMNS = ("id_a", "id_b", "kind_a", "kind_b")


def check_identities(raw: ir.Table) -> ir.Table:
    """What is kept of each pair as the file is read: every column, `_reason` (a pair needs
    both identifiers) and `_raw` for a bad row; nothing about a pair needs the whole file."""
    reason = ibis.cases((raw.id_a.isnull() | raw.id_b.isnull(), "missing_identifier"), else_=KEPT)
    return checked_rows(raw, reason, text=IDENTITY_COLUMNS, keep=IDENTITY_COLUMNS)


def clean_identities(checked: ir.Table) -> CheckedCleaning:
    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "id_a", "id_b", kind_a=good.kind_a.fill_null("id"), kind_b=good.kind_b.fill_null("id")
        )

    marks = late_marks(checked, KEPT)
    return CheckedCleaning(
        "identities", marks, typed, checked=checked, later=lambda rows: ibis.literal(False)
    )


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
