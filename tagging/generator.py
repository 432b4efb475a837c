"""Deterministic synthetic shop for Portrait: raw source files plus the exact truth behind them.

`generate_shop(out_dir, users=..., seed=...)` writes users.csv, products.csv, events.csv,
orders.csv, order_items.csv and identities.csv (the data contract of `tagging.ingest`) and a
truth/ folder saying exactly what was planted: persons and personas, every identifier of every
person, the bot devices, the basket rules and the count of every kind of dirt. The same seed
and arguments give byte-identical files. Personas and vocabularies live in
`tagging.generator_personas`; the stages live in `tagging.generator_*` (catalogue, people,
orders, sessions, events, sources, truth), drawing from one seeded generator in a fixed order.

Conventions
- Activity lies in [end - days 00:00:00, end 23:59:59] UTC. "The last 200 days" start at
  (end + 1 day - 200 days) 00:00 UTC; lapsed persons order nothing in them.
- People's true instants are whole seconds, bots' are milliseconds. events.ts and orders.ts mix
  ISO 8601 with an offset (Z, +08:00 or -05:00; a ".mmm" fraction only when the instant has
  milliseconds), epoch seconds and epoch milliseconds; all denote the true UTC instant.
- Money is computed in integer cents and written with two decimals; amount = sum(quantity *
  price) - discount. A coupon_code SAVE<n> means a discount of n% of the gross.
- Ids: users U+7 digits, items I+5, orders O+10, events E+12, sessions S+12, persons P+7,
  devices D+12 upper-case hex (people's and bots' alike), phone hashes 16 lower-case hex.
  A two-account person's primary account has the smaller user id.
- order and pay events carry the order's first item; a missing value is an empty field.
- Dirt is only ever extra rows: drop them and what is left is exactly the planted truth. Each
  dirty row has one defect; malformed events and orders are copies of clean ones with a fresh
  id (malformed orders have no order_items). `days` must be >= 230 so that lapsed persons have
  30 days to order in before their quiet 200.

Rates a downstream bot filter depends on
- People: within a session the gap between events is 5 s + exponential (mean 55 s, capped at
  900 s), except that `pay` shares its `order` event's second; a session holds at most 40
  events and one device's sessions never overlap. So a person's device logs at most 13 clean
  rows within one clock minute, far below 15 (duplicate rows are copies on top of that).
- Rate bots (normal browser user agents): sessions of 100-300 events with gaps uniform in
  0.5-2.0 s, i.e. 30 or more events in every full minute of a session.
- Crawler bots (bot user agents): sessions of 20-200 events with gaps uniform in 2-20 s.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tagging import generator_touches
from tagging.generator_catalogue import _Catalogue, _make_catalogue
from tagging.generator_columns import _write_csv
from tagging.generator_events import (
    BOT_SHARE,
    DUP_SHARE,
    EVENT_DEFECTS,
    _Bots,
    _dirt_counts,
    _event_rows,
    _EventRows,
    _Log,
    _make_bots,
    _make_log,
)
from tagging.generator_orders import _make_orders, _Orders
from tagging.generator_people import _make_people, _People
from tagging.generator_sampling import QUIET_DAYS, _Window
from tagging.generator_sessions import _human_block
from tagging.generator_sources import (
    _make_text,
    _Text,
    _write_events,
    _write_identities,
    _write_order_items,
    _write_orders,
    _write_products,
    _write_users,
)
from tagging.generator_truth import (
    _params,
    _rule_rows,
    _write_bots,
    _write_identifiers,
    _write_persons,
)

MIN_USERS, MIN_DAYS = 50, 230  # lapsed persons need >= 30 days before the quiet 200


@dataclass(frozen=True)
class GeneratedShop:
    """What generate_shop wrote: row counts of the main files and the time it took."""

    out_dir: Path
    users: int  # rows in users.csv (clean)
    persons: int  # true persons
    events: int  # rows in events.csv (all rows incl. bots, duplicates, malformed)
    orders: int  # rows in orders.csv (all rows)
    seconds: float


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def _validate(users: int, seed: int, end: date, days: int) -> None:
    if isinstance(users, bool) or not isinstance(users, int) or users < MIN_USERS:
        raise ValueError(f"users must be an integer >= {MIN_USERS}, got {users!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(days, bool) or not isinstance(days, int) or days < MIN_DAYS:
        raise ValueError(
            f"days must be an integer >= {MIN_DAYS} (lapsed persons need "
            f"{MIN_DAYS - QUIET_DAYS} days before the quiet last {QUIET_DAYS}), got {days!r}"
        )
    if isinstance(end, datetime) or not isinstance(end, date):
        raise ValueError(f"end must be a datetime.date, got {end!r}")
    if end - timedelta(days=days) < date(2001, 9, 10) or end.year > 2200:
        raise ValueError(f"end - days must fall in 2001-09-10 .. 2200, got end={end}, days={days}")


def _window(end: date, days: int) -> _Window:
    start = end - timedelta(days=days)
    start_s = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    return _Window(start_s, days + 1, start.weekday())


def generate_shop(
    out_dir: Path,
    *,
    users: int = 20_000,
    seed: int = 7,
    end: date = date(2026, 10, 31),
    days: int = 365,
    marketing: bool = False,
) -> GeneratedShop:
    """Write a deterministic synthetic shop and its exact truth/ into `out_dir`.

    `marketing` adds touches.csv, the orders the touches caused (appended to orders.csv) and
    truth/attribution.json (`tagging.generator_touches`); the other files stay as they are.
    """
    _validate(users, seed, end, days)
    started = time.perf_counter()
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shop = _simulate(rng, users, _window(end, days))
    quality = _write_sources(rng, out, shop, end)
    _write_truth(out / "truth", shop)
    _write_json(out / "truth" / "quality.json", quality)
    _write_json(
        out / "truth" / "params.json", _params(seed, users, shop.ppl.n, end, days, shop.win)
    )
    if marketing:
        planted = generator_touches.marketing(
            seed, shop.ppl.persona, shop.orders.person, shop.orders.ts, shop.text.user_id, shop.win
        )
        generator_touches.write_marketing(out, planted)
    return GeneratedShop(
        out,
        users,
        shop.ppl.n,
        quality["events"]["rows"],
        quality["orders"]["rows"],
        round(time.perf_counter() - started, 3),
    )


@dataclass
class _Shop:
    """Everything simulated, ready to be written."""

    win: _Window
    cat: _Catalogue
    ppl: _People
    orders: _Orders
    bots: _Bots
    log: _Log
    text: _Text


def _simulate(rng: np.random.Generator, users: int, win: _Window) -> _Shop:
    salts = {
        name: int(rng.integers(1, 1 << 40))
        for name in ("user", "item", "order", "event", "session", "device", "phone")
    }
    cat = _make_catalogue(rng)
    ppl = _make_people(rng, users, cat, salts["user"])
    orders = _make_orders(rng, ppl, cat, win)
    people = _human_block(rng, ppl, cat, orders, win)
    h = len(people.sess)
    other_rows = h + max(1, round(DUP_SHARE * h)) + sum(_dirt_counts(h, EVENT_DEFECTS).values())
    bots = _make_bots(rng, math.ceil(other_rows * BOT_SHARE / (1 - BOT_SHARE)), win)
    log = _make_log(rng, people, bots, ppl, cat)
    text = _make_text(ppl, cat, log, len(bots.rate), salts)
    return _Shop(win, cat, ppl, orders, bots, log, text)


def _write_sources(
    rng: np.random.Generator, out: Path, shop: _Shop, end: date
) -> dict[str, dict[str, int]]:
    """Write the six source files; returns the quality counts of each."""
    rows = _event_rows(rng, shop.log)
    profiles = np.concatenate([shop.ppl.dev_profile, shop.bots.profile])
    _write_events(rng, out / "events.csv", shop.log, profiles, shop.text, rows)
    quality = _quality(rows, shop.log)
    del rows  # the biggest array; free it before the other files
    o, ppl, text = shop.orders, shop.ppl, shop.text
    quality["orders"], written = _write_orders(rng, out, o, ppl, text)
    quality["order_items"] = _write_order_items(
        rng, out, o, shop.cat, written, quality["orders"]["rows"], text
    )
    users = _write_users(rng, out, ppl, shop.log, o, shop.win, end, text)
    quality["users"] = {"rows": users}
    quality["products"] = {"rows": _write_products(out, shop.cat, text)}
    quality["identities"] = {"rows": _write_identities(rng, out, ppl, shop.log, text)}
    return quality


def _quality(rows: _EventRows, log: _Log) -> dict[str, dict[str, int]]:
    kinds = np.bincount(rows.kind, minlength=5)
    names = ("duplicate", "bad_timestamp", "missing_event_type", "missing_identity")
    return {
        "events": {
            "rows": len(rows.src),
            "bot": len(log.ts) - log.n_human,
            "clean": log.n_human,
            **{name: int(kinds[i + 1]) for i, name in enumerate(names)},
        }
    }


def _write_truth(truth: Path, shop: _Shop) -> None:
    ppl, text = shop.ppl, shop.text
    _write_persons(truth, ppl, text)
    _write_identifiers(truth, ppl, text)
    _write_bots(truth, shop.log, shop.bots, len(ppl.dev_person), text)
    _write_csv(truth / "rules.csv", pa.Table.from_pylist(_rule_rows(shop.orders, shop.cat, text)))
