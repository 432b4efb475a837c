"""The whole shop: its stages in order from one seeded generator; source files and truth/."""

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

from tagging.generator import touches
from tagging.generator.catalogue import Catalogue, make_catalogue
from tagging.generator.columns import write_table
from tagging.generator.events import (
    BOT_SHARE,
    DUP_SHARE,
    EVENT_DEFECTS,
    Bots,
    EventRows,
    Log,
    dirt_counts,
    event_rows,
    make_bots,
    make_log,
)
from tagging.generator.orders import Orders, make_orders
from tagging.generator.people import People, make_people
from tagging.generator.sampling import QUIET_DAYS, Window
from tagging.generator.sessions import human_block
from tagging.generator.sources import (
    Text,
    make_text,
    write_events,
    write_identities,
    write_order_items,
    write_orders,
    write_products,
    write_users,
)
from tagging.generator.truth import (
    params,
    rule_rows,
    write_bots,
    write_identifiers,
    write_persons,
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


def _window(end: date, days: int) -> Window:
    start = end - timedelta(days=days)
    start_s = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp())
    return Window(start_s, days + 1, start.weekday())


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
    truth/attribution.json (`tagging.generator.touches`); the other files stay as they are.
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
    _write_json(out / "truth" / "params.json", params(seed, users, shop.ppl.n, end, days, shop.win))
    if marketing:
        planted = touches.marketing(
            seed, shop.ppl.persona, shop.orders.person, shop.orders.ts, shop.text.user_id, shop.win
        )
        touches.write_marketing(out, planted)
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

    win: Window
    cat: Catalogue
    ppl: People
    orders: Orders
    bots: Bots
    log: Log
    text: Text


def _simulate(rng: np.random.Generator, users: int, win: Window) -> _Shop:
    salts = {
        name: int(rng.integers(1, 1 << 40))
        for name in ("user", "item", "order", "event", "session", "device", "phone")
    }
    cat = make_catalogue(rng)
    ppl = make_people(rng, users, cat, salts["user"])
    orders = make_orders(rng, ppl, cat, win)
    people = human_block(rng, ppl, cat, orders, win)
    h = len(people.sess)
    other_rows = h + max(1, round(DUP_SHARE * h)) + sum(dirt_counts(h, EVENT_DEFECTS).values())
    bots = make_bots(rng, math.ceil(other_rows * BOT_SHARE / (1 - BOT_SHARE)), win)
    log = make_log(rng, people, bots, ppl, cat)
    text = make_text(ppl, cat, log, len(bots.rate), salts)
    return _Shop(win, cat, ppl, orders, bots, log, text)


def _write_sources(
    rng: np.random.Generator, out: Path, shop: _Shop, end: date
) -> dict[str, dict[str, int]]:
    """Write the six source files; returns the quality counts of each."""
    rows = event_rows(rng, shop.log)
    profiles = np.concatenate([shop.ppl.dev_profile, shop.bots.profile])
    write_events(rng, out / "events.csv", shop.log, profiles, shop.text, rows)
    quality = _quality(rows, shop.log)
    del rows  # the biggest array; free it before the other files
    o, ppl, text = shop.orders, shop.ppl, shop.text
    quality["orders"], written = write_orders(rng, out, o, ppl, text)
    quality["order_items"] = write_order_items(
        rng, out, o, shop.cat, written, quality["orders"]["rows"], text
    )
    users = write_users(rng, out, ppl, shop.log, o, shop.win, end, text)
    quality["users"] = {"rows": users}
    quality["products"] = {"rows": write_products(out, shop.cat, text)}
    quality["identities"] = {"rows": write_identities(rng, out, ppl, shop.log, text)}
    return quality


def _quality(rows: EventRows, log: Log) -> dict[str, dict[str, int]]:
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
    write_persons(truth, ppl, text)
    write_identifiers(truth, ppl, text)
    write_bots(truth, shop.log, shop.bots, len(ppl.dev_person), text)
    write_table(truth / "rules.csv", pa.Table.from_pylist(rule_rows(shop.orders, shop.cat, text)))
