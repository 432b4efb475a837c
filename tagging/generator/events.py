"""Bots, the assembled clean event log, and the rows of events.csv with their dirt."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tagging.generator import personas as gp
from tagging.generator.catalogue import Catalogue
from tagging.generator.columns import BAD_TS
from tagging.generator.people import People
from tagging.generator.sampling import CAT_P, N_CAT, PERSONAS, Arr, Window, ips, pick_by_row
from tagging.generator.sessions import Block, concat, offsets_in_session

BOT_SHARE, DUP_SHARE = 0.03, 0.015
EVENT_DEFECTS = (
    ("bad_timestamp", 0.002),
    ("missing_event_type", 0.001),
    ("missing_identity", 0.001),
)


@dataclass
class Bots:
    block: Block  # s_device counts from 0 within the bots
    rate: Arr  # per bot device: True = rate bot, False = crawler user agent
    profile: Arr  # per bot device, index into PROFILES
    ip: Arr  # per bot device


def _bot_sessions(rng: np.random.Generator, target: int) -> tuple[Arr, Arr, Arr]:
    """(rate flag per device, device per session, events per session), >= target events."""
    m = target // 300 + 5
    while True:
        # two rate bots in every five devices, so even a small shop has both kinds
        rate = (np.argsort(rng.random((m // 5 + 1, 5)), axis=1) < 2).ravel()[:m]
        s_dev = np.repeat(np.arange(m), rng.integers(1, 5, m))
        length = np.where(
            rate[s_dev], rng.integers(100, 301, len(s_dev)), rng.integers(20, 201, len(s_dev))
        )
        total = np.cumsum(length)
        if total[-1] >= target:
            n_s = int(np.searchsorted(total, target)) + 1
            return rate[: s_dev[n_s - 1] + 1], s_dev[:n_s], length[:n_s]
        m *= 2


def make_bots(rng: np.random.Generator, target: int, win: Window) -> Bots:
    rate, s_dev, length = _bot_sessions(rng, target)
    sess = np.repeat(np.arange(len(s_dev)), length)
    e_rate = rate[s_dev][sess]
    gaps = np.where(
        e_rate, rng.integers(500, 2001, len(sess)), rng.integers(2000, 20001, len(sess))
    )
    offsets = offsets_in_session(gaps, length)
    room = (win.end_s + 1 - win.start_s) * 1000 - offsets[np.cumsum(length) - 1]
    start = win.start_s * 1000 + (rng.random(len(s_dev)) * room).astype(np.int64)
    kinds = np.array([[0.55, 0.25, 0.20], [0.85, 0.05, 0.10]])  # view, click, search
    etype = np.array([gp.VIEW, gp.CLICK, gp.SEARCH])[pick_by_row(rng, kinds, (~e_rate).astype(int))]
    item = rng.integers(0, gp.N_ITEMS, len(sess))  # crawlers walk the whole catalogue
    item[etype == gp.SEARCH] = -1
    web = np.array([i for i, p in enumerate(gp.DEVICE_PROFILES) if p[0] == "web"])
    profile = np.where(
        rate,
        web[rng.integers(0, len(web), len(rate))],
        len(gp.DEVICE_PROFILES) + rng.integers(0, len(gp.BOT_PROFILES), len(rate)),
    )
    none = np.full(len(s_dev), -1)
    block = Block(
        sess,
        etype,
        item,
        start[sess] + offsets,
        np.ones(len(sess), dtype=bool),
        none,
        s_dev,
        none,
        np.zeros(len(s_dev), dtype=bool),
    )
    return Bots(block, rate, profile, ips(rng, len(rate), gp.CLOUD_NETS))


@dataclass
class Log:
    """Every clean event (people's first, then bots') and their sessions."""

    sess: Arr
    etype: Arr
    item: Arr
    ts: Arr  # epoch milliseconds
    acc: Arr  # account, -1 when anonymous
    dwell: Arr  # -1 = none
    query: Arr  # -1 = none
    s_device: Arr  # per session; bot devices follow the people's devices
    s_ip: Arr
    n_human: int


def _dwell_and_query(
    rng: np.random.Generator, etype: Arr, persona: Arr, cat: Catalogue
) -> tuple[Arr, Arr]:
    """View dwell times (people ~15 s, bots < 1 s) and search queries (persona's categories)."""
    n = len(etype)
    human = persona >= 0
    dwell = np.where(
        human, np.minimum(rng.lognormal(np.log(15_000), 0.8, n), 600_000), rng.integers(50, 801, n)
    ).astype(np.int64)
    dwell[etype != gp.VIEW] = -1
    table = np.vstack([CAT_P, np.ones(N_CAT)])  # last row: bots search anything
    qcat = pick_by_row(rng, table, np.where(human, persona, len(PERSONAS)))
    query = cat.query_first[qcat] + (rng.random(n) * cat.query_count[qcat]).astype(np.int64)
    query[etype != gp.SEARCH] = -1
    return dwell.astype(np.int32), query.astype(np.int32)


def make_log(
    rng: np.random.Generator, people: Block, bots: Bots, ppl: People, cat: Catalogue
) -> Log:
    n_dev = len(ppl.dev_person)
    b = concat([people, replace(bots.block, s_device=bots.block.s_device + n_dev)])
    s_persona = np.where(b.s_person >= 0, ppl.persona[np.maximum(b.s_person, 0)], -1)
    dwell, query = _dwell_and_query(rng, b.etype, s_persona[b.sess], cat)
    acc = np.where(b.anon, np.int32(-1), b.s_account[b.sess])
    n_people = people.n_sessions
    home = rng.random(n_people) < 0.7
    ip = np.where(home, ppl.home_ip[people.s_person], ips(rng, n_people, gp.HOME_NETS))
    s_ip = np.concatenate([ip, bots.ip[bots.block.s_device]])
    return Log(b.sess, b.etype, b.item, b.ts, acc, dwell, query, b.s_device, s_ip, len(people.sess))


def dirt_counts(n: int, defects: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """At least one row of each kind of dirt, so every reason is always exercised."""
    return {name: max(1, round(share * n)) for name, share in defects}


@dataclass
class EventRows:
    """events.csv in file order: the source event, its event number and the row's dirt."""

    src: Arr
    number: Arr  # event_id before scrambling; a duplicate repeats its source's number
    kind: Arr  # 0 clean or bot, 1 duplicate, 2 bad ts, 3 missing type, 4 missing identity
    variant: Arr  # which unreadable timestamp a kind-2 row gets


def event_rows(rng: np.random.Generator, log: Log) -> EventRows:
    h, base = log.n_human, len(log.ts)
    dup = rng.choice(h, max(1, round(DUP_SHARE * h)), replace=False)
    bad_counts = list(dirt_counts(h, EVENT_DEFECTS).values())
    bad = rng.integers(0, h, sum(bad_counts))  # copies of people's events, one defect each
    src = np.concatenate([np.arange(base), dup, bad]).astype(np.int32)
    number = np.concatenate([np.arange(base), dup, base + np.arange(len(bad))]).astype(np.int32)
    kind = np.concatenate(
        [
            np.zeros(base, dtype=np.int8),
            np.ones(len(dup), dtype=np.int8),
            np.repeat(np.array([2, 3, 4], dtype=np.int8), bad_counts),
        ]
    )
    delay = np.where(kind == 1, rng.integers(0, 120_000, len(src)), 0)  # retries arrive late
    order = np.argsort(log.ts[src] + delay, kind="stable")
    variant = rng.integers(0, len(BAD_TS), len(src)).astype(np.int8)
    return EventRows(src[order], number[order], kind[order], variant[order])
