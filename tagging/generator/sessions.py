"""People's sessions and events: purchases, reviews, browsing and lapsed persons' quiet views."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue, draw_items
from tagging.generator.orders import Orders
from tagging.generator.people import People, actors
from tagging.generator.sampling import (
    DAY,
    LAPSED,
    N_CAT,
    ORDER_HOUR,
    ORDER_SPAN,
    PERSONAS,
    Arr,
    Window,
    draw_index,
    group_bounds,
    persona_column,
    pick_by_row,
)

MAX_SESSION = 40
MIN_GAP_S, GAP_MEAN_S, GAP_CAP_S = 5, 55.0, 900
P_VIEW_LINE, P_CART_LINE = 0.35, 0.3  # per order line, in its purchase session
P_ANON_BROWSE, P_ANON_PREFIX = 0.45, 0.4
P_REVIEW = 0.10
BROWSE_P = np.array([p.browse_types for p in PERSONAS])


@dataclass
class Block:
    """Sessions and their events; events are grouped by session, sessions in index order."""

    sess: Arr  # per event
    etype: Arr
    item: Arr
    ts: Arr  # epoch milliseconds
    anon: Arr
    s_person: Arr  # per session
    s_device: Arr
    s_account: Arr
    s_purchase: Arr

    @property
    def n_sessions(self) -> int:
        return len(self.s_person)


def _gaps(rng: np.random.Generator, n: int) -> Arr:
    """Seconds between a person's consecutive events: 5 + exponential(55), capped at 900."""
    extra = np.minimum(np.rint(rng.exponential(GAP_MEAN_S, n)), GAP_CAP_S - MIN_GAP_S)
    return MIN_GAP_S + extra.astype(np.int64)


def offsets_in_session(gaps: Arr, length: Arr) -> Arr:
    """Offset of each event from its session's first event, given per-event gaps."""
    first = np.cumsum(length) - length
    gaps = gaps.copy()
    gaps[first] = 0
    total = np.cumsum(gaps)
    return total - np.repeat(total[first], length)


def _purchase_rows(rng: np.random.Generator, o: Orders, search_p: Arr) -> tuple[Arr, Arr, Arr]:
    """(order, event type, item) of purchase-session events, sorted by order then step."""
    n = len(o.person)
    line = o.items >= 0
    vo, vj = np.nonzero(line & (rng.random((n, 4)) < P_VIEW_LINE))
    co, cj = np.nonzero(line & (rng.random((n, 4)) < P_CART_LINE))
    so = np.flatnonzero(rng.random(n) < search_p)
    every = np.arange(n)
    owner = np.concatenate([so, vo, co, every, every])
    step = np.concatenate(
        [np.zeros(len(so)), 1 + 2 * vj, 2 + 2 * cj, np.full(n, 20), np.full(n, 21)]
    )
    etype = np.concatenate(
        [
            np.full(len(so), gp.SEARCH),
            np.full(len(vo), gp.VIEW),
            np.full(len(co), gp.CART),
            np.full(n, gp.ORDER),
            np.full(n, gp.PAY),
        ]
    )
    item = np.concatenate(
        [np.full(len(so), -1), o.items[vo, vj], o.items[co, cj], o.items[:, 0], o.items[:, 0]]
    )
    order = np.lexsort((step, owner))
    return owner[order], etype[order], item[order]


def _purchase_block(rng: np.random.Generator, ppl: People, o: Orders) -> Block:
    """One session per order: search, views, carts, then order and pay at the order's second."""
    owner, etype, item = _purchase_rows(
        rng, o, persona_column("purchase_search_p")[ppl.persona[o.person]]
    )
    gaps = _gaps(rng, len(owner))
    gaps[np.isin(etype, (gp.ORDER, gp.PAY))] = 0
    total = np.cumsum(gaps)
    last = np.searchsorted(owner, owner, side="right") - 1
    ts = (o.ts[owner] - (total[last] - total + gaps)) * 1000  # walk back from the order
    login = np.isin(etype, (gp.CART, gp.ORDER, gp.PAY)).astype(np.int64)
    seen = np.cumsum(login)
    first = np.searchsorted(owner, owner, side="left")
    before_login = seen - (seen[first] - login[first]) == 0
    anon = (rng.random(len(o.person)) < P_ANON_PREFIX)[owner] & before_login
    n = len(o.person)
    return Block(owner, etype, item, ts, anon, o.person, o.device, o.account, np.ones(n, bool))


def _single_event_block(
    etype: int, person: Arr, item: Arr, ts_s: Arr, anon: Arr, device: Arr, account: Arr
) -> Block:
    n = len(person)
    return Block(
        np.arange(n),
        np.full(n, etype),
        item,
        ts_s * 1000,
        anon,
        person,
        device,
        account,
        np.zeros(n, dtype=bool),
    )


def _review_block(rng: np.random.Generator, ppl: People, o: Orders, win: Window) -> Block:
    """A review of one item of some orders, 3-20 days later (lapsed: before the quiet days)."""
    sel = np.flatnonzero(rng.random(len(o.person)) < P_REVIEW)
    ts = o.ts[sel] + rng.integers(3 * DAY, 20 * DAY, len(sel))
    person = o.person[sel]
    slot = (rng.random(len(sel)) * o.n_items[sel]).astype(np.int64)
    device, _ = actors(rng, ppl, person, 0.6)
    limit = np.where(LAPSED[ppl.persona[person]], win.quiet_s - DAY, win.end_s)
    ok = ts <= limit
    return _single_event_block(
        gp.REVIEW,
        person[ok],
        o.items[sel, slot][ok],
        ts[ok],
        np.zeros(int(ok.sum()), dtype=bool),
        device[ok],
        o.account[sel][ok],
    )


def _next_in_category(item: Arr, cat: Catalogue) -> Arr:
    counts = np.bincount(cat.cat, minlength=N_CAT)
    first = (np.cumsum(counts) - counts)[cat.cat[item]]
    return first + (item - first + 1) % counts[cat.cat[item]]


def _avoid_bought(item: Arr, carted: Arr, person: Arr, o: Orders, cat: Catalogue) -> None:
    """Browse-session carts are abandoned: move them off items their person ever orders."""
    line = o.items >= 0
    bought = np.sort(np.repeat(o.person, 4)[line.ravel()] * gp.N_ITEMS + o.items[line])
    idx = np.flatnonzero(carted)
    while idx.size:
        key = person[idx] * gp.N_ITEMS + item[idx]
        pos = np.minimum(np.searchsorted(bought, key), len(bought) - 1)
        idx = idx[bought[pos] == key]  # sorted lookup: far cheaper than np.isin in a loop
        item[idx] = _next_in_category(item[idx], cat)


def _browse_starts(rng: np.random.Generator, persona: Arr, duration: Arr, win: Window) -> Arr:
    """Session starts: 70% in the persona's order hours; lapsed ones end before the quiet days."""
    n = len(persona)
    last_day = np.where(LAPSED[persona], win.quiet_day - 1, win.n_days)
    day = (rng.random(n) * last_day).astype(np.int64)
    habit = rng.random(n) < 0.7
    hour = np.where(habit, ORDER_HOUR[persona], 7)
    span = np.where(habit, ORDER_SPAN[persona], 17 * 3600)
    start = win.start_s + day * DAY + hour * 3600 + (rng.random(n) * span).astype(np.int64)
    limit = np.where(LAPSED[persona], win.quiet_s - DAY, win.end_s)
    return np.asarray(start - np.maximum(0, start + duration - limit))


def _browse_block(
    rng: np.random.Generator, ppl: People, cat: Catalogue, o: Orders, win: Window
) -> Block:
    """Sessions without an order: views, clicks, searches, abandoned carts and shares."""
    persona = ppl.persona
    years = np.where(LAPSED[persona], (win.quiet_day - 1) / 365, win.n_days / 365)
    s_person = np.repeat(
        np.arange(ppl.n), rng.poisson(persona_column("browse_per_year")[persona] * years)
    )
    s_persona = persona[s_person]
    length = np.minimum(rng.geometric(1 / persona_column("browse_len")[s_persona]), MAX_SESSION)
    sess = np.repeat(np.arange(len(s_person)), length)
    e_person = s_person[sess]
    etype = np.asarray(gp.BROWSE_TYPES)[pick_by_row(rng, BROWSE_P, persona[e_person])]
    item = draw_items(rng, cat, persona[e_person], ppl.fav_brand[e_person])
    item[etype == gp.SEARCH] = -1
    _avoid_bought(item, etype == gp.CART, e_person, o, cat)
    offsets = offsets_in_session(_gaps(rng, len(sess)), length)
    start = _browse_starts(rng, s_persona, offsets[np.cumsum(length) - 1], win)
    device, account = actors(rng, ppl, s_person, 0.6)
    anon = (rng.random(len(s_person)) < P_ANON_BROWSE)[sess]
    return Block(
        sess,
        etype,
        item,
        (start[sess] + offsets) * 1000,
        anon,
        s_person,
        device,
        account,
        np.zeros(len(s_person), dtype=bool),
    )


def _quiet_views(rng: np.random.Generator, ppl: People, cat: Catalogue, win: Window) -> Block:
    """Lapsed persons' only activity in the quiet days: 0-2 single views."""
    person = np.flatnonzero(LAPSED[ppl.persona])
    person = np.repeat(person, draw_index(rng, (0.5, 0.3, 0.2), len(person)))
    ts = win.quiet_s + (rng.random(len(person)) * (win.end_s + 1 - win.quiet_s)).astype(np.int64)
    item = draw_items(rng, cat, ppl.persona[person], ppl.fav_brand[person])
    device, account = actors(rng, ppl, person, 0.6)
    anon = rng.random(len(person)) < 0.5
    return _single_event_block(gp.VIEW, person, item, ts, anon, device, account)


# Compact dtypes keep ~30 bytes per event: a million users (~30M events) fit in a few GB.
_BLOCK_DTYPES = {
    "etype": np.int8,
    "item": np.int32,
    "ts": np.int64,
    "anon": np.bool_,
    "s_person": np.int32,
    "s_device": np.int32,
    "s_account": np.int32,
    "s_purchase": np.bool_,
}


def concat(blocks: list[Block]) -> Block:
    offsets = np.cumsum([0] + [b.n_sessions for b in blocks])
    fields = {
        name: np.concatenate([getattr(b, name).astype(dtype, copy=False) for b in blocks])
        for name, dtype in _BLOCK_DTYPES.items()
    }
    sess = np.concatenate(
        [(b.sess + off).astype(np.int32) for b, off in zip(blocks, offsets, strict=False)]
    )
    return Block(sess=sess, **fields)


def _overlap_keep(b: Block, win: Window) -> Arr:
    """Sessions to keep so that no device has two sessions within a minute of each other.

    Purchase sessions never overlap (one order per person and day); other sessions that touch
    a purchase session, or an earlier other session, of their device are dropped.
    """
    first, last = group_bounds(b.sess, b.n_sessions)
    start, end = b.ts[first] // 1000 - win.start_s, b.ts[last] // 1000 - win.start_s
    dev, span, margin = b.s_device.astype(np.int64), np.int64(1 << 34), 60
    keep = np.ones(b.n_sessions, dtype=bool)
    pur = np.flatnonzero(b.s_purchase)
    pur = pur[np.argsort(dev[pur] * span + start[pur], kind="stable")]
    other = np.flatnonzero(~b.s_purchase)
    pos = (
        np.searchsorted(
            dev[pur] * span + start[pur], dev[other] * span + end[other] + margin, side="right"
        )
        - 1
    )
    near = pur[np.maximum(pos, 0)]
    touches = (pos >= 0) & (dev[near] == dev[other]) & (end[near] + margin > start[other])
    keep[other[touches]] = False
    rest = other[~touches]
    rest = rest[np.argsort(dev[rest] * span + start[rest], kind="stable")]
    reach = np.maximum.accumulate(dev[rest] * span + end[rest])
    keep[rest[1:][reach[:-1] + margin > dev[rest[1:]] * span + start[rest[1:]]]] = False
    return keep


def _keep_sessions(b: Block, keep: Arr) -> Block:
    renumber = np.cumsum(keep) - 1
    e = keep[b.sess]
    return Block(
        renumber[b.sess[e]],
        b.etype[e],
        b.item[e],
        b.ts[e],
        b.anon[e],
        b.s_person[keep],
        b.s_device[keep],
        b.s_account[keep],
        b.s_purchase[keep],
    )


def _drop_unused_devices(b: Block, ppl: People, o: Orders) -> None:
    """Keep only devices that log events, so truth's devices are exactly the logged ones."""
    used = np.unique(b.s_device)
    b.s_device = np.searchsorted(used, b.s_device)
    o.device = np.searchsorted(used, o.device)
    ppl.dev_person, ppl.dev_profile = ppl.dev_person[used], ppl.dev_profile[used]
    ppl.n_dev = np.bincount(ppl.dev_person, minlength=ppl.n)
    ppl.dev_first = np.cumsum(ppl.n_dev) - ppl.n_dev


def human_block(
    rng: np.random.Generator, ppl: People, cat: Catalogue, o: Orders, win: Window
) -> Block:
    blocks = [
        _purchase_block(rng, ppl, o),
        _review_block(rng, ppl, o, win),
        _browse_block(rng, ppl, cat, o, win),
        _quiet_views(rng, ppl, cat, win),
    ]
    merged = concat(blocks)
    del blocks
    merged = _keep_sessions(merged, _overlap_keep(merged, win))
    _drop_unused_devices(merged, ppl, o)
    return merged
