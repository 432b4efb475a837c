"""Cleaning: text columns to types, bad rows quarantined with a reason, duplicates and bots dropped.

Each source goes through one `cases` chain whose first matching check names the row's reason;
rows without a reason are kept. Nothing is dropped without landing in the quarantine with its
source, row number, reason and raw values. Rows after `as_of` are not bad, only out of scope:
the quality report counts them as `after_as_of`; they are not quarantined.

Bot traffic is judged per actor (the device, or the user when an event has no device): an actor
is a bot when any of its events carries a crawler user agent, or when it ever sends more events
within one clock minute than a person can (`bot_events_per_minute`; people browsing stay far
below it, scripts far above).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tagging.ingest import ROW

BOT_USER_AGENT = (
    r"(?i)(bot\b|bot/|crawl|spider|slurp|python-requests|curl/|wget|scrapy|headless"
    r"|httpclient|go-http-client|java/|phantomjs|selenium)"
)
KEPT = ibis.null("string")


@dataclass(frozen=True)
class Step:
    """One source after cleaning: typed rows in scope, quarantined rows, rows after as_of."""

    kept: ir.Table
    quarantined: ir.Table
    after_as_of: ir.Table


def parse_timestamp(text: ir.StringValue) -> ir.TimestampValue:
    """ISO 8601 (with or without offset), epoch seconds or epoch milliseconds, as naive UTC."""
    return ibis.cases(
        (text.re_search(r"^\d{9,10}$"), text.cast("int64").as_timestamp("s")),
        (text.re_search(r"^\d{12,13}$"), text.cast("int64").as_timestamp("ms")),
        else_=text.try_cast("timestamp('UTC')").cast("timestamp"),
    )


def _number(text: ir.StringValue) -> ir.FloatingValue:
    return text.try_cast("float64")


def _bad_number(text: ir.StringValue) -> ir.BooleanValue:
    return text.notnull() & text.try_cast("float64").isnull()


def _repeat(table: ir.Table, key: ir.Column) -> ir.IntegerColumn:
    """0 for the first row of each key in file order, 1, 2, ... for its repeats."""
    return ibis.row_number().over(group_by=key, order_by=table[ROW])


def _split(table: ir.Table, source: str, reason: ir.StringValue) -> tuple[ir.Table, ir.Table]:
    """(rows without a reason, quarantined rows as source / row_number / reason / raw)."""
    marked = table.mutate(_reason=reason)
    kept = marked.filter(marked._reason.isnull()).drop("_reason")
    return kept, _quarantined(marked.filter(marked._reason.notnull()), source)


def _quarantined(rows: ir.Table, source: str) -> ir.Table:
    raw_columns = [c for c in rows.columns if not c.startswith("_")]
    raw = ibis.struct({c: rows[c] for c in raw_columns}).cast("json").cast("string")
    return rows.select(
        source=ibis.literal(source), row_number=rows[ROW], reason=rows._reason, raw=raw
    )


def _until(typed: ir.Table, as_of: datetime, quarantined: ir.Table, ts: str = "ts") -> Step:
    return Step(typed.filter(typed[ts] <= as_of), quarantined, typed.filter(typed[ts] > as_of))


def clean_users(raw: ir.Table, *, as_of: datetime) -> Step:
    """Users need an id; a bad date or age leaves the field empty rather than losing the user."""
    t = raw.mutate(_dup=_repeat(raw, raw.user_id))
    reason = ibis.cases(
        (t.user_id.isnull(), "missing_user_id"),
        (t._dup > 0, "duplicate_user_id"),
        else_=KEPT,
    )
    kept, quarantined = _split(t, "users", reason)
    registered = parse_timestamp(kept.registered_at)
    typed = kept.select(
        "user_id",
        "gender",
        "city",
        "region",
        "occupation",
        "member_level",
        "channel",
        registered_at=registered,
        birth_date=kept.birth_date.try_cast("date"),
        age=kept.age.try_cast("float64"),
        _ts=registered.fill_null(ibis.literal(as_of)),
    )
    step = _until(typed, as_of, quarantined, ts="_ts")
    return Step(step.kept.drop("_ts"), step.quarantined, step.after_as_of)


def clean_orders(raw: ir.Table, *, users: ir.Table | None, as_of: datetime) -> Step:
    """Orders need an id, a known user, a timestamp and a non-negative amount."""
    t = raw.mutate(_ts=parse_timestamp(raw.ts), _dup=_repeat(raw, raw.order_id))
    unknown_user = ibis.literal(False) if users is None else t.user_id.notin(users.user_id)
    reason = ibis.cases(
        (t.order_id.isnull(), "missing_order_id"),
        (t.user_id.isnull(), "missing_user_id"),
        (t._ts.isnull(), "bad_timestamp"),
        (t.amount.isnull() | _bad_number(t.amount), "bad_amount"),
        (_number(t.amount) < 0, "negative_amount"),
        (_bad_number(t.discount), "bad_discount"),
        (unknown_user, "unknown_user"),
        (t._dup > 0, "duplicate_order_id"),
        else_=KEPT,
    )
    kept, quarantined = _split(t, "orders", reason)
    typed = kept.select(
        "order_id",
        "user_id",
        "coupon_code",
        "pay_method",
        "channel",
        ts=kept._ts,
        amount=_number(kept.amount),
        discount=_number(kept.discount).fill_null(0.0),
    )
    return _until(typed, as_of, quarantined)


def clean_order_items(raw: ir.Table, *, orders_raw: ir.Table, orders: Step) -> Step:
    """Items must belong to a usable order of the orders file and have a positive quantity."""
    quantity = raw.quantity.try_cast("int64")
    # NOT IN against a column holding NULL is never true: compare with the non-null ids only.
    known_ids = orders_raw.filter(orders_raw.order_id.notnull()).select("order_id")
    kept_ids = orders.kept.select("order_id")
    later_ids = orders.after_as_of.select("order_id")
    reason = ibis.cases(
        (raw.order_id.isnull(), "missing_order_id"),
        (raw.item_id.isnull(), "missing_item_id"),
        (raw.order_id.notin(known_ids.order_id), "unknown_order"),
        (quantity.isnull() | (quantity <= 0), "bad_quantity"),
        (raw.price.isnull() | _bad_number(raw.price) | (_number(raw.price) < 0), "bad_price"),
        (
            raw.order_id.notin(kept_ids.order_id) & raw.order_id.notin(later_ids.order_id),
            "order_quarantined",
        ),
        else_=KEPT,
    )
    kept, quarantined = _split(raw, "order_items", reason)
    typed = kept.select(
        "order_id",
        "item_id",
        "category",
        "brand",
        quantity=kept.quantity.cast("int64"),
        price=_number(kept.price),
    )
    in_scope = typed.order_id.isin(kept_ids.order_id)
    return Step(typed.filter(in_scope), quarantined, typed.filter(~in_scope))


def clean_products(raw: ir.Table) -> Step:
    t = raw.mutate(_dup=_repeat(raw, raw.item_id))
    reason = ibis.cases(
        (t.item_id.isnull(), "missing_item_id"),
        (t._dup > 0, "duplicate_item_id"),
        else_=KEPT,
    )
    kept, quarantined = _split(t, "products", reason)
    typed = kept.select("item_id", "category", "brand", "name", price=_number(kept.price))
    return Step(typed, quarantined, typed.limit(0))


def clean_identities(raw: ir.Table) -> Step:
    reason = ibis.cases(
        (raw.id_a.isnull() | raw.id_b.isnull(), "missing_identifier"),
        else_=KEPT,
    )
    kept, quarantined = _split(raw, "identities", reason)
    typed = kept.select(
        "id_a", "id_b", kind_a=kept.kind_a.fill_null("id"), kind_b=kept.kind_b.fill_null("id")
    )
    return Step(typed, quarantined, typed.limit(0))


def clean_events(raw: ir.Table, *, as_of: datetime, bot_events_per_minute: int) -> Step:
    """Bad rows, then repeated event ids, then every event of an actor judged to be a bot."""
    t = raw.mutate(_ts=parse_timestamp(raw.ts))
    reason = ibis.cases(
        (t.user_id.isnull() & t.device_id.isnull(), "missing_identity"),
        (t.event_type.isnull(), "missing_event_type"),
        (t._ts.isnull(), "bad_timestamp"),
        (_bad_number(t.price), "bad_price"),
        else_=KEPT,
    )
    valid, bad = _split(t, "events", reason)
    in_scope = valid.filter(valid._ts <= as_of)
    after = valid.filter(valid._ts > as_of)
    deduped, duplicates = _split(
        in_scope,
        "events",
        ibis.ifelse(
            in_scope.event_id.notnull() & (_repeat(in_scope, in_scope.event_id) > 0),
            "duplicate_event_id",
            KEPT,
        ),
    )
    humans, bots = _drop_bots(deduped, bot_events_per_minute)
    return Step(_typed_events(humans), bad.union(duplicates).union(bots), _typed_events(after))


def _drop_bots(events: ir.Table, per_minute: int) -> tuple[ir.Table, ir.Table]:
    actor = events.device_id.fill_null("user:" + events.user_id)
    t = events.mutate(_actor=actor)
    by_agent = t.filter(t.user_agent.re_search(BOT_USER_AGENT)).select("_actor").distinct()
    minute = t.mutate(_minute=t._ts.truncate("m"))
    busiest = minute.group_by("_actor", "_minute").agg(n=ibis._.count())
    by_rate = busiest.filter(busiest.n > per_minute).select("_actor").distinct()
    reason = ibis.cases(
        (t._actor.isin(by_agent._actor), "bot_user_agent"),
        (t._actor.isin(by_rate._actor), "bot_rate"),
        else_=KEPT,
    )
    humans, bots = _split(t, "events", reason)
    return humans.drop("_actor"), bots


def _typed_events(t: ir.Table) -> ir.Table:
    return t.select(
        "event_id",
        "user_id",
        "device_id",
        "item_id",
        "category",
        "brand",
        "platform",
        "os",
        "device_model",
        "session_id",
        "user_agent",
        "query",
        event_type=t.event_type.lower(),
        ts=t._ts,
        price=_number(t.price),
        dwell_ms=_number(t.dwell_ms),
    )
