"""Orders: days and times per persona, baskets, planted basket rules, coupons and payment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue, draw_items
from tagging.generator.people import People, actors
from tagging.generator.sampling import (
    DAY,
    LAPSED,
    ORDER_HOUR,
    ORDER_SPAN,
    PERSONAS,
    Arr,
    Window,
    persona_column,
    pick_by_row,
    uniform_int,
)

ACTIVE_DAYS = 60  # other persons order in these last days with probability P_ACTIVE
P_ACTIVE = 0.95
ORDERS_RANGE = persona_column("orders").astype(np.int64)
DISCOUNT_PCT = persona_column("discount_pct").astype(np.int64)


@dataclass
class Orders:
    person: Arr
    account: Arr
    device: Arr
    ts: Arr  # epoch seconds
    items: Arr  # (n, 4) item indices, -1 = empty slot
    qty: Arr  # (n, 4)
    pct: Arr  # coupon percent of gross, 0 = no coupon
    discount: Arr  # cents
    gross: Arr  # cents
    pay: Arr

    @property
    def n_items(self) -> Arr:
        return np.asarray((self.items >= 0).sum(axis=1))


def _order_counts(rng: np.random.Generator, persona: Arr, days: int) -> Arr:
    n = uniform_int(rng, ORDERS_RANGE[persona, 0], ORDERS_RANGE[persona, 1])
    scaled = np.maximum(1, np.rint(n * days / 365)).astype(np.int64)
    return np.where(LAPSED[persona], n, scaled)  # lapsed history does not grow with the window


def _allowed_days(win: Window) -> tuple[list[Arr], list[Arr]]:
    """Per persona: the days its orders may fall on, and the last ACTIVE_DAYS of them."""
    days = np.arange(win.n_days)
    weekend = (win.weekday0 + days) % 7 >= 5
    allowed, recent = [], []
    for p in PERSONAS:
        ok = days[: win.quiet_day - 1] if p.lapsed else days[weekend] if p.weekend_only else days
        allowed.append(ok)
        recent.append(ok[ok >= win.n_days - ACTIVE_DAYS])
    return allowed, recent


def _draw_days(rng: np.random.Generator, persona: Arr, sets: list[Arr]) -> Arr:
    day = np.zeros(len(persona), dtype=np.int64)
    u = rng.random(len(persona))
    for k, options in enumerate(sets):
        sel = persona == k
        day[sel] = options[(u[sel] * len(options)).astype(np.int64)]
    return day


def _order_days(
    rng: np.random.Generator, person: Arr, persona: Arr, recent: Arr, win: Window
) -> Arr:
    """Order days, at most one per person and day (so purchase sessions never overlap)."""
    allowed, recent_days = _allowed_days(win)
    day = _draw_days(rng, persona, allowed)
    fresh = np.flatnonzero(recent)
    day[fresh] = _draw_days(rng, persona[fresh], recent_days)
    while True:
        key = person * win.n_days + day
        order = np.argsort(key, kind="stable")
        clash = order[1:][key[order][1:] == key[order][:-1]]
        if clash.size == 0:
            return day
        day[clash] = _draw_days(rng, persona[clash], allowed)


def _order_times(rng: np.random.Generator, persona: Arr, day: Arr, win: Window) -> Arr:
    base = win.start_s + day * DAY + ORDER_HOUR[persona] * 3600
    span = np.minimum(ORDER_SPAN[persona], win.end_s + 1 - base)  # night windows end with `end`
    return base + (rng.random(len(day)) * span).astype(np.int64)


def _compact(items: Arr) -> Arr:
    """Drop repeated items within each order and move the empty slots (-1) to the end."""
    items = items.copy()
    for j in range(1, 4):
        for k in range(j):
            items[(items[:, j] == items[:, k]) & (items[:, j] >= 0), j] = -1
    return np.take_along_axis(items, np.argsort(items < 0, axis=1, kind="stable"), axis=1)


def _baskets(rng: np.random.Generator, cat: Catalogue, ppl: People, person: Arr) -> tuple[Arr, Arr]:
    persona = ppl.persona[person]
    n_items = pick_by_row(rng, persona_column("items_per_order"), persona) + 1
    flat = np.repeat(person, 4)
    items = draw_items(rng, cat, ppl.persona[flat], ppl.fav_brand[flat]).reshape(-1, 4)
    items[np.arange(4)[None, :] >= n_items[:, None]] = -1
    items = _compact(items)
    qty = (pick_by_row(rng, persona_column("quantity"), np.repeat(persona, 4)) + 1).reshape(-1, 4)
    return items, np.where(items >= 0, qty, 0)


def _plant_rules(
    rng: np.random.Generator, items: Arr, qty: Arr, planted: list[tuple[int, int]]
) -> None:
    """Add each rule's consequent to orders holding its antecedent, with its probability."""
    for (ante, cons), rule in zip(planted, gp.RULES, strict=True):
        n_items = (items >= 0).sum(axis=1)
        hit = (items == ante).any(axis=1) & ~(items == cons).any(axis=1)
        hit &= rng.random(len(items)) < rule.p_add
        room = np.flatnonzero(hit & (n_items < 4))
        items[room, n_items[room]], qty[room, n_items[room]] = cons, 1
        full = np.flatnonzero(hit & (n_items == 4))  # orders keep at most 4 lines
        slot = np.where(items[full, 3] == ante, 2, 3)
        items[full, slot], qty[full, slot] = cons, 1


def make_orders(rng: np.random.Generator, ppl: People, cat: Catalogue, win: Window) -> Orders:
    counts = _order_counts(rng, ppl.persona, win.n_days - 1)
    person = np.repeat(np.arange(ppl.n), counts)
    persona = ppl.persona[person]
    first = np.arange(len(person)) == (np.cumsum(counts) - counts)[person]
    recent = first & ~LAPSED[persona] & (rng.random(len(person)) < P_ACTIVE)
    ts = _order_times(rng, persona, _order_days(rng, person, persona, recent, win), win)
    items, qty = _baskets(rng, cat, ppl, person)
    _plant_rules(rng, items, qty, cat.planted)
    gross = np.where(items >= 0, qty * cat.price[np.maximum(items, 0)], 0).sum(axis=1)
    coupon = rng.random(len(person)) < persona_column("coupon_p")[persona]
    pct = uniform_int(rng, DISCOUNT_PCT[persona, 0], DISCOUNT_PCT[persona, 1])
    pct = np.where(coupon, pct, 0)
    discount = np.rint(gross * pct / 100).astype(np.int64)
    pay = pick_by_row(rng, persona_column("pay"), persona)
    device, account = actors(rng, ppl, person, 0.85)
    return Orders(person, account, device, ts, items, qty, pct, discount, gross, pay)
