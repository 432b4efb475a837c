"""Events: checked as their file is read, then repeats and bots once as_of is known.

What later stages read of an event, its parsed timestamp, the reason a bad row is bad, the
crawler test and the duplicate key are all worked out in the one pass over the file
(`check_events`); an event's other text (user agent, query, session, ip, ...) is not kept, and
is read again from the file only for the rows that end in quarantine.

Bot traffic is judged per actor (the device, or the user when an event has no device): an actor
is a bot when any of its events carries a crawler user agent, or when it ever sends more events
within one clock minute than a person can (`bot_events_per_minute`; people browsing stay far
below it, scripts far above). Duplicates are judged before bots, so a re-delivered batch does
not make a person look like a machine.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

import ibis
import ibis.expr.types as ir

from tagging.clean.marks import (
    KEPT,
    OPTIONAL_VALUES,
    CheckedCleaning,
    after,
    raw_text,
    unreadable_value,
)
from tagging.ingest import ROW
from tagging.parsing import EVENT_TYPES, bad_money, in_vocabulary, parse_timestamp

BOT_USER_AGENT = (
    r"(?i)(bot\b|bot/|crawl|spider|slurp|python-requests|curl/|wget|scrapy|headless"
    r"|httpclient|go-http-client|java/|phantomjs|selenium)"
)

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
        f"_unreadable_{column}": unreadable_value(t[column], parse)
        for column, (_reason, parse) in OPTIONAL_VALUES["events"].items()
    }
    return t.select(
        # A caller's own row numbers pass through (a file's rows are numbered as they are kept).
        *([ROW] if ROW in raw.columns else []),
        *EVENT_COLUMNS,
        "_ts",
        _event_id=t.event_id,
        _reason=reason,
        # The pattern on every event: matching each distinct agent once and joining the result
        # back took longer (1.17 s of CPU against 0.99 s at 100k), the join hashing every agent.
        _crawler=t.user_agent.re_search(BOT_USER_AGENT).fill_null(False),
        _raw=ibis.ifelse(reason.notnull(), raw_text(t, raw.columns), ibis.null("string")),
        **flags,
    )


def clean_events(
    checked: ir.Table,
    *,
    as_of: datetime,
    bot_events_per_minute: int,
    event_types: dict[str, str] = EVENT_TYPES,
) -> CheckedCleaning:
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
    return CheckedCleaning(
        "events",
        marks.filter(marks._reason.notnull()),
        partial(_typed_events, event_types=event_types),
        checked=checked,
        later=after(as_of),
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
    return typed_events(good, event_types=event_types)


def typed_events(
    good: ir.Table, *, event_types: dict[str, str] = EVENT_TYPES, with_event_id: bool = False
) -> ir.Table:
    """Checked events as later stages read them; `with_event_id` keeps the id too (the live
    path finds repeats of events posted later by it; a run has found its repeats by then)."""
    return good.select(
        *(c for c in EVENT_COLUMNS if c != "event_type"),
        event_type=in_vocabulary(good.event_type, event_types),
        ts=good._ts,
        **({"event_id": good._event_id} if with_event_id else {}),
    )
