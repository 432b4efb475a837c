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

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import ibis
import ibis.expr.types as ir

from tagging.clean.marks import (
    KEPT,
    OPTIONAL_VALUES,
    CheckedCleaning,
    after,
    passed_through,
    raw_text,
    unreadable_value,
)
from tagging.ingest import ROW
from tagging.parsing import EVENT_TYPES, bad_money, in_vocabulary, parse_timestamp

BOT_USER_AGENT = (
    r"(?i)(bot\b|bot/|crawl|spider|slurp|python-requests|curl/|wget|scrapy|headless"
    r"|httpclient|go-http-client|java/|phantomjs|selenium)"
)

# The user agents, most common first, whose crawler test `check_events` may be told in advance
# (`checks_of_sample`): each is then compared with the row's agent instead of the pattern.
KNOWN_AGENTS = 64

# The events' columns cleaning and later stages read, kept as the file is read; the rest of an
# event's text (user agent, query, session, ip, ...) is read again only for quarantined rows.
EVENT_COLUMNS: tuple[str, ...] = ("user_id", "device_id", "event_type", "item_id", "category")
EVENT_COLUMNS += ("brand", "platform", "os")


def check_events(raw: ir.Table, *, human_agents: Sequence[str] = ()) -> ir.Table:
    """What is kept of each event as the file is read (`read_source`'s checks): the columns
    later stages read, the parsed `_ts`, `_reason` for a bad row (NULL when fine), `_crawler`,
    the duplicate key `_event_id`, a flag per unreadable optional value, and `_raw` (the row's
    text as JSON) for a bad row only. What needs as_of (repeats, bots) is `clean_events`.

    `human_agents` are user agents known not to be crawlers' (`checks_of_sample`)."""
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
        # A caller's own row numbers and the text's hash pass through (`read_source`).
        *passed_through(raw),
        *EVENT_COLUMNS,
        "_ts",
        _event_id=t.event_id,
        _reason=reason,
        _crawler=crawler(t.user_agent, human_agents),
        _raw=ibis.ifelse(reason.notnull(), raw_text(t, raw.columns), ibis.null("string")),
        **flags,
    )


def crawler(agent: ir.StringValue, human_agents: Sequence[str] = ()) -> ir.BooleanValue:
    """`agent` is a crawler's (`BOT_USER_AGENT`); false for a missing agent.

    The pattern costs about 0.3 µs per event, and a shop's events carry few distinct
    agents: an agent of `human_agents` (not a crawler's) is only compared with them. On 100k
    users' 3.3M events, 0.12 s of CPU instead of 1.00 s; matching each distinct agent once and
    joining the result back took longer than the pattern (1.17 s), the join hashing every agent.
    """
    test = agent.re_search(BOT_USER_AGENT).fill_null(False)
    if not human_agents:
        return test
    # A list's contains, not IN: DuckDB makes an IN of many values a join, and a join in the
    # read pass loses the file's order, which numbers its rows (`read_source`).
    human = ibis.literal(list(human_agents), type="array<string>")
    return ibis.ifelse(human.contains(agent), False, test)


def checks_of_sample(sample: ir.Table) -> Callable[[ir.Table], ir.Table]:
    """`check_events` told the `KNOWN_AGENTS` commonest user agents of `sample` (the file's
    first rows) that are not crawlers'. Which agents these are changes no result, only the
    time: an agent compared equal has the pattern's answer for it."""
    agents = sample.filter(sample.user_agent.notnull())
    human = agents.filter(~crawler(agents.user_agent))
    counted = human.group_by("user_agent").agg(n=human.count())
    common = counted.order_by([ibis.desc("n"), "user_agent"]).limit(KNOWN_AGENTS)
    found = common.user_agent.to_pyarrow().to_pylist()
    return partial(check_events, human_agents=tuple(found))


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
