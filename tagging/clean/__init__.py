"""Cleaning: text columns to types, bad rows quarantined with a reason, duplicates and bots dropped.

marks      how a source's rows are marked (`_row`, `_reason`, `_later`) and split by their marks
           into kept, quarantined and later rows (`Cleaning`, `Step`)
sources    users, products, identities, touches: their checks and the types of their good rows
orders     orders and order items: checked as their files are read, then repeated ids and
           items of orders not usable
events     the events: checked as their file is read, then repeats and bots

`CHECKS` are what each source's rows get as its file is read (`tagging.ingest.read_source`),
`CHECKS_OF_SAMPLE` those made from the file's first rows instead (the events' user agents);
`clean_sources` is the run's clean stage: every source's parts, materialised.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from tagging.clean import events, sources
from tagging.clean.marks import Cleaning, Step
from tagging.clean.orders import check_order_items, check_orders, clean_order_items, clean_orders
from tagging.identity import Materialise
from tagging.ingest import Source
from tagging.shop import Shop

CHECKS = {
    "events": events.check_events,
    "orders": check_orders,
    "order_items": check_order_items,
    "identities": sources.check_identities,
}

CHECKS_OF_SAMPLE = {"events": events.checks_of_sample}


def clean_sources(
    read: Mapping[str, Source],
    *,
    as_of: datetime,
    shop: Shop,
    bot_events_per_minute: int,
    materialise: Materialise,
) -> dict[str, Step]:
    """Every source's kept, quarantined and later rows, each part materialised once."""
    raw = {name: source.rows for name, source in read.items()}

    def settle(cleaning: Cleaning, *, keep_rows: bool = True) -> Step:
        return _settle(cleaning, read[cleaning.source], materialise, keep_rows=keep_rows)

    steps: dict[str, Step] = {}
    if "users" in raw:
        genders = shop.vocabulary("gender")
        steps["users"] = settle(sources.clean_users(raw["users"], as_of=as_of, genders=genders))
    orders = steps["orders"] = settle(clean_orders(raw["orders"], as_of=as_of))
    if "order_items" in raw:
        items = clean_order_items(
            raw["order_items"], orders=raw["orders"], kept=orders.kept, later=orders.after_as_of
        )
        steps["order_items"] = settle(items)
    if "products" in raw:
        steps["products"] = settle(sources.clean_products(raw["products"]))
    if "identities" in raw:
        steps["identities"] = settle(sources.clean_identities(raw["identities"]))
    if "touches" in raw:
        steps["touches"] = settle(sources.clean_touches(raw["touches"], as_of=as_of))
    if "events" in raw:
        cleaning = events.clean_events(
            raw["events"],
            as_of=as_of,
            bot_events_per_minute=bot_events_per_minute,
            event_types=shop.vocabulary("event_type"),
        )
        # The kept events are read for a column or two by the quality report and identity,
        # then once whole with their persons (p_events): a typed copy of every event in
        # between took as much time and memory as p_events.
        steps["events"] = settle(cleaning, keep_rows=False)
    return steps


def _settle(
    cleaning: Cleaning, source: Source, materialise: Materialise, *, keep_rows: bool
) -> Step:
    """Materialise the marked rows once, then every part later stages read, so that the
    source's text rows can go once cleaning is done.

    Without `keep_rows` the kept rows stay a query over the source and its marks, read once
    more by whoever materialises them (events: with their persons).
    """
    name = cleaning.source
    marks = materialise(f"marks_{name}", cleaning.marks)
    # A checked source's marks name the few rows whose text is wanted (tagging.clean.events).
    rows = source.table if source.text_of is None else source.text_of(marks)
    step = cleaning.split(marks, rows)
    return Step(
        kept=materialise(f"clean_{name}", step.kept) if keep_rows else step.kept,
        quarantined=materialise(f"quarantined_{name}", step.quarantined),
        after_as_of=materialise(f"later_{name}", step.after_as_of),
        unreadable=cleaning.unreadable(rows),
    )
