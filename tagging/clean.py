"""Cleaning: text columns to types, bad rows quarantined with a reason, duplicates and bots dropped.

Each source is *marked* once: a narrow table with every row's `_row`, `_reason` (why it is not
used; NULL when it is fine), `_later` (it falls after `as_of`) and the few values derived on the
way (the parsed timestamp). The caller materialises the marks, and `Cleaning.split` joins them
back to the source rows for the three parts: kept rows (typed), quarantined rows (source, row
number, reason, raw values as JSON), and rows after `as_of`, which are not bad, only out of
scope, so they are counted but not quarantined. Keeping the marks narrow means the wide text
of a big events file is copied once, not once per check.

Bot traffic is judged per actor (the device, or the user when an event has no device): an actor
is a bot when any of its events carries a crawler user agent, or when it ever sends more events
within one clock minute than a person can (`bot_events_per_minute`; people browsing stay far
below it, scripts far above). Duplicates are judged before bots, so a re-delivered batch does
not make a person look like a machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import ibis
import ibis.expr.types as ir

from tagging.ingest import ROW
from tagging.parsing import (
    EVENT_TYPES,
    GENDERS,
    NOT_SAID,
    bad_money,
    in_vocabulary,
    parse_date,
    parse_money,
    parse_timestamp,
)

BOT_USER_AGENT = (
    r"(?i)(bot\b|bot/|crawl|spider|slurp|python-requests|curl/|wget|scrapy|headless"
    r"|httpclient|go-http-client|java/|phantomjs|selenium)"
)
KEPT = ibis.null("string")


def _age(text: ir.StringValue) -> ir.FloatingValue:
    return text.re_replace(r"[\s岁]", "").try_cast("float64")


# Optional values that cannot be read leave their field empty and the row in use; the quality
# report counts them per column and reason (`unreadable`), so nothing goes without a trace.
OPTIONAL_VALUES: dict[str, dict[str, tuple[str, Callable[[ir.StringValue], ir.Value]]]] = {
    "users": {
        "registered_at": ("bad_timestamp", parse_timestamp),
        "birth_date": ("bad_date", parse_date),
        "age": ("bad_number", _age),
    },
    "products": {"price": ("bad_price", parse_money)},
    "events": {"dwell_ms": ("bad_number", parse_money)},
}


@dataclass(frozen=True)
class Step:
    """One source after cleaning: typed rows in scope, quarantined rows, rows after as_of."""

    kept: ir.Table
    quarantined: ir.Table
    after_as_of: ir.Table
    # Rows read with an optional value there but unreadable: "column: reason" -> rows.
    unreadable: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Cleaning:
    """A source's marks (narrow: `_row`, `_reason`, `_later`, derived values) and how to type
    its good rows."""

    source: str
    marks: ir.Table
    typed: Callable[[ir.Table], ir.Table]

    def split(self, marks: ir.Table, rows: ir.Table) -> Step:
        """The three parts, from the materialised `marks` and the source's `rows`."""
        marked = rows.join(marks, ROW)
        good = marked.filter(marked._reason.isnull())
        return Step(
            kept=self.typed(good.filter(~good._later)),
            quarantined=_quarantined(
                marked.filter(marked._reason.notnull()), rows.columns, self.source
            ),
            after_as_of=self.typed(good.filter(good._later)),
        )

    def unreadable(self, rows: ir.Table) -> dict[str, int]:
        """Per "column: reason", the rows whose optional value is there but unreadable."""
        return unreadable(self.source, rows)


def _with_repeats(table: ir.Table, key: str) -> ir.Table:
    """`table` with `_dup`: true for every row of a key but its first in file order.

    By each key's first row (a grouping and a join): a row_number() window sorts every row.
    Only repeated keys are joined back, so the join's hash table stays small.
    """
    keys = (
        table.filter(table[key].notnull())
        .group_by(key)
        .agg(_first=table[ROW].min(), _n=ibis._.count())
    )
    firsts = keys.filter(keys._n > 1).drop("_n")
    joined = table.left_join(firsts, key)
    return joined.select(*table.columns, _dup=(joined[ROW] != joined._first).fill_null(False))


def _quarantined(rows: ir.Table, raw_columns: Sequence[str], source: str) -> ir.Table:
    return rows.select(
        source=ibis.literal(source),
        row_number=rows[ROW],
        reason=rows._reason,
        raw=_raw_text(rows, raw_columns),
    )


def _raw_text(rows: ir.Table, raw_columns: Sequence[str]) -> ir.StringValue:
    """A row's text columns as one JSON object, as its quarantined row keeps them."""
    return ibis.struct({c: rows[c] for c in raw_columns if c != ROW}).cast("json").cast("string")


def _marks(
    table: ir.Table, reason: ir.StringValue, later: ir.BooleanValue, **derived: ir.Value
) -> ir.Table:
    return table.select(ROW, _reason=reason, _later=later.fill_null(False), **derived)


def clean_users(raw: ir.Table, *, as_of: datetime, genders: dict[str, str] = GENDERS) -> Cleaning:
    """Users need an id; a bad date or age leaves the field empty rather than losing the user.

    Genders are read in `genders`' spellings (`男`, `F`, `female`); another value is `other`.
    """
    t = _with_repeats(raw, "user_id")
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
            age=_age(good.age),
        )

    marks = _marks(t, reason, t._registered > as_of, _registered=t._registered)
    return Cleaning("users", marks, typed)


def clean_orders(raw: ir.Table, *, as_of: datetime) -> Cleaning:
    """Orders need an id, a user, a timestamp and a non-negative amount.

    A user the users file does not list is no reason to drop an order: a CRM table that covers
    some buyers is the normal case, and those buyers only get no demographic tags.
    """
    t = _with_repeats(raw, "order_id")
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

    return Cleaning("orders", _marks(t, reason, t._ts > as_of, _ts=t._ts), typed)


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

    return Cleaning("order_items", _marks(raw, reason, raw.order_id.isin(later_ids)), typed)


def clean_products(raw: ir.Table) -> Cleaning:
    t = _with_repeats(raw, "item_id")
    reason = ibis.cases(
        (t.item_id.isnull(), "missing_item_id"),
        (t._dup, "duplicate_item_id"),
        else_=KEPT,
    )

    def typed(good: ir.Table) -> ir.Table:
        return good.select("item_id", "category", "brand", "name", price=parse_money(good.price))

    return Cleaning("products", _marks(t, reason, ibis.literal(False)), typed)


def clean_identities(raw: ir.Table) -> Cleaning:
    reason = ibis.cases((raw.id_a.isnull() | raw.id_b.isnull(), "missing_identifier"), else_=KEPT)

    def typed(good: ir.Table) -> ir.Table:
        return good.select(
            "id_a", "id_b", kind_a=good.kind_a.fill_null("id"), kind_b=good.kind_b.fill_null("id")
        )

    return Cleaning("identities", _marks(raw, reason, ibis.literal(False)), typed)


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

    return Cleaning("touches", _marks(t, reason, t._ts > as_of, _ts=t._ts, _kind=t._kind), typed)


# The events' columns cleaning and later stages read, kept as the file is read; the rest of an
# event's text (user agent, query, session, ip, ...) is read again only for quarantined rows.
EVENT_COLUMNS: tuple[str, ...] = ("user_id", "device_id", "event_type", "item_id", "category")
EVENT_COLUMNS += ("brand", "platform", "os")


def check_events(raw: ir.Table) -> ir.Table:
    """What is kept of each event as the file is read (`read_source`'s checks): the columns
    later stages read, the parsed `_ts`, `_reason` for a bad row (NULL when fine), `_crawler`,
    the duplicate key `_event_id`, a flag per unreadable optional value, and `_raw` (the row's
    text as JSON) for a bad row only. What needs as_of (repeats, bots) is `clean_events`."""
    # Parsed in a projection of its own (a view, which ibis does not merge into the next
    # select): written into both the reason's CASE and the output, every timestamp was parsed
    # twice (1.2 s of CPU at 100k).
    t = raw.mutate(_ts=parse_timestamp(raw.ts)).view()
    reason = ibis.cases(
        (t.user_id.isnull() & t.device_id.isnull(), "missing_identity"),
        (t.event_type.isnull(), "missing_event_type"),
        (t._ts.isnull(), "bad_timestamp"),
        (bad_money(t.price), "bad_price"),
        else_=KEPT,
    )
    flags = {
        f"_unreadable_{column}": _unreadable(t[column], parse)
        for column, (_reason, parse) in OPTIONAL_VALUES["events"].items()
    }
    return t.select(
        *EVENT_COLUMNS,
        "_ts",
        _event_id=t.event_id,
        _reason=reason,
        # The pattern on every event: matching each distinct agent once and joining the result
        # back took longer (1.17 s of CPU against 0.99 s at 100k), the join hashing every agent.
        _crawler=t.user_agent.re_search(BOT_USER_AGENT).fill_null(False),
        _raw=ibis.ifelse(reason.notnull(), _raw_text(t, raw.columns), ibis.null("string")),
        **flags,
    )


@dataclass(frozen=True)
class EventCleaning(Cleaning):
    """The events' marks are only the rows that as_of condemns (repeated ids, bots): every
    other check was made as the file was read (`check_events`, the `checked` rows)."""

    checked: ir.Table
    as_of: datetime

    def split(self, marks: ir.Table, rows: ir.Table) -> Step:
        """The three parts, from the materialised late `marks` and the file's text `rows`
        (read again, only for the rows `marks` names)."""
        checked = self.checked
        good = checked.filter(checked._reason.isnull())
        later = good._ts > self.as_of  # a good row's _ts is never NULL
        bad = checked.filter(checked._reason.notnull())
        early = bad.select(
            source=ibis.literal(self.source), row_number=bad[ROW], reason=bad._reason, raw=bad._raw
        )
        late = rows.join(marks, ROW)
        return Step(
            # A view: later joins would otherwise extend the anti-join's chain.
            kept=self.typed(good.filter(~later).anti_join(marks, ROW).view()),
            quarantined=early.union(_quarantined(late, rows.columns, self.source)),
            after_as_of=self.typed(good.filter(later)),
        )

    def unreadable(self, rows: ir.Table) -> dict[str, int]:
        return unreadable(self.source, self.checked)


def clean_events(
    checked: ir.Table,
    *,
    as_of: datetime,
    bot_events_per_minute: int,
    event_types: dict[str, str] = EVENT_TYPES,
) -> EventCleaning:
    """Repeated event ids, then every event of an actor judged to be a bot, among the events
    `check_events` found good and on or before as_of.

    `checked` is the `checked_events` view. Event types are read in `event_types`'
    spellings (`加购` -> `add_to_cart`); others are kept lower-cased.
    """
    good = checked.filter(checked._reason.isnull() & (checked._ts <= as_of))
    t = good.select(
        ROW,
        "_ts",
        "_crawler",
        "_event_id",
        _actor=good.device_id.fill_null("user:" + good.user_id),
    )
    # Each repeated event id's first row, by a grouping (a row_number() window sorted every
    # row); only the few repeated ids are joined back, so the join's hash table stays small.
    keyed = t.filter(t._event_id.notnull())
    ids = keyed.group_by("_event_id").agg(_first=keyed[ROW].min(), _n=ibis._.count())
    firsts = ids.filter(ids._n > 1).drop("_n")
    marked = t.left_join(firsts, "_event_id")
    repeat = (marked[ROW] != marked._first).fill_null(False)
    deduped = marked.select(ROW, "_ts", "_crawler", "_actor", _repeat=repeat)
    marks = _bots(deduped, bot_events_per_minute)
    return EventCleaning(
        "events",
        marks.filter(marks._reason.notnull()),
        partial(_typed_events, event_types=event_types),
        checked=checked,
        as_of=as_of,
    )


def _bots(t: ir.Table, per_minute: int) -> ir.Table:
    """`_row` and `_reason` of every event: a repeat, an event of a bot, or NULL."""
    people = t.filter(~t._repeat)
    by_agent = people.filter(people._crawler)._actor
    minutes = people.group_by([people._actor, people._ts.truncate("m")]).agg(n=ibis._.count())
    by_rate = minutes.filter(minutes.n > per_minute)._actor
    reason = ibis.cases(
        (t._repeat, "duplicate_event_id"),
        (t._actor.isin(by_agent), "bot_user_agent"),
        (t._actor.isin(by_rate), "bot_rate"),
        else_=KEPT,
    )
    return t.select(ROW, _reason=reason)


def _typed_events(good: ir.Table, *, event_types: dict[str, str]) -> ir.Table:
    return good.select(
        *(c for c in EVENT_COLUMNS if c != "event_type"),
        event_type=in_vocabulary(good.event_type, event_types),
        ts=good._ts,
    )


def _unreadable(
    text: ir.StringValue, parse: Callable[[ir.StringValue], ir.Value]
) -> ir.BooleanValue:
    return text.notnull() & parse(text).isnull()


def unreadable(source: str, rows: ir.Table) -> dict[str, int]:
    """Per "column: reason", the rows of `source` whose optional value is there but cannot be
    read (`OPTIONAL_VALUES`); counted over every row read, one scan of those columns."""
    checks = OPTIONAL_VALUES.get(source, {})
    if not checks:
        return {}
    flags = {
        column: rows[f"_unreadable_{column}"]
        if f"_unreadable_{column}" in rows.columns
        else _unreadable(rows[column], parse)
        for column, (_reason, parse) in checks.items()
    }
    counts = rows.aggregate(**{column: flag.sum() for column, flag in flags.items()})
    found = counts.to_pyarrow().to_pylist()[0]
    return {
        f"{column}: {reason}": int(found[column] or 0)
        for column, (reason, _parse) in checks.items()
        if found[column]
    }
