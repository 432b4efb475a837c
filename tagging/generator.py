"""Deterministic synthetic shop for Portrait: raw source files plus the exact truth behind them.

`generate_shop(out_dir, users=..., seed=...)` writes users.csv, products.csv, events.csv,
orders.csv, order_items.csv and identities.csv (the data contract of `tagging.ingest`) and a
truth/ folder saying exactly what was planted: persons and personas, every identifier of every
person, the bot devices, the basket rules and the count of every kind of dirt. The same seed
and arguments give byte-identical files. Personas and vocabularies live in
`tagging.generator_personas`.

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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tagging import generator_personas as gp

Arr = npt.NDArray[Any]
DAY = 86_400
MIN_USERS, MIN_DAYS = 50, 230  # lapsed persons need >= 30 days before the quiet 200
QUIET_DAYS = 200  # lapsed persons have no order in these last days
ACTIVE_DAYS = 60  # other persons order in these last days with probability P_ACTIVE
P_ACTIVE = 0.95
ACCOUNTS_PER_PERSON = 1.12
MAX_SESSION = 40
MIN_GAP_S, GAP_MEAN_S, GAP_CAP_S = 5, 55.0, 900
P_VIEW_LINE, P_CART_LINE = 0.35, 0.3  # per order line, in its purchase session
P_ANON_BROWSE, P_ANON_PREFIX = 0.45, 0.4
P_REVIEW = 0.10
P_PHONE = 0.85
BOT_SHARE, DUP_SHARE = 0.03, 0.015
EVENT_DEFECTS = (("bad_timestamp", 0.002), ("missing_event_type", 0.001),
                 ("missing_identity", 0.001))
ORDER_DEFECTS = (("negative_amount", 0.003), ("bad_timestamp", 0.001), ("unknown_user", 0.001),
                 ("missing_order_id", 0.001))
ITEM_DEFECTS = (("unknown_order", 0.002), ("bad_quantity", 0.001))
BAD_TS: tuple[str | None, ...] = ("not-a-date", "2026-13-45 25:00:00", None)
FORMAT_P = (0.5, 0.25, 0.25)  # ISO with offset, epoch seconds, epoch milliseconds
TZ_NAMES, TZ_SECONDS, TZ_P = ("Z", "+08:00", "-05:00"), (0, 8 * 3600, -5 * 3600), (0.3, 0.5, 0.2)
CHUNK_ROWS = 1_000_000

P = gp.PERSONAS
N_CAT = len(gp.CATEGORIES)
CAT_INDEX = {c.name: i for i, c in enumerate(gp.CATEGORIES)}
CAT_P = np.array([[dict(p.categories).get(c.name, 0.0) for c in gp.CATEGORIES] for p in P])
TIER = np.array([("any", "cheap", "brand").index(p.tier) for p in P])
LAPSED = np.array([p.lapsed for p in P])
ORDER_HOUR = np.array([p.order_hour for p in P])
ORDER_SPAN = np.array([p.order_hours * 3600 for p in P])
BROWSE_P = np.array([p.browse_types for p in P])
PROFILES = gp.DEVICE_PROFILES + gp.BOT_PROFILES


def _col(name: str) -> Arr:
    """A persona attribute as an array indexed by persona code (rows for tuple attributes)."""
    return np.array([getattr(p, name) for p in P], dtype=float)


AGE = _col("age").astype(np.int64)
ORDERS_RANGE = _col("orders").astype(np.int64)
DISCOUNT_PCT = _col("discount_pct").astype(np.int64)


@dataclass(frozen=True)
class GeneratedShop:
    """What generate_shop wrote: row counts of the main files and the time it took."""

    out_dir: Path
    users: int  # rows in users.csv (clean)
    persons: int  # true persons
    events: int  # rows in events.csv (all rows incl. bots, duplicates, malformed)
    orders: int  # rows in orders.csv (all rows)
    seconds: float


@dataclass(frozen=True)
class _Window:
    start_s: int  # epoch second of day 0 = end - days, 00:00 UTC
    n_days: int  # calendar days in the window (days + 1)
    weekday0: int  # weekday of day 0, Monday = 0

    @property
    def end_s(self) -> int:
        return self.start_s + self.n_days * DAY - 1

    @property
    def quiet_day(self) -> int:
        return self.n_days - QUIET_DAYS

    @property
    def quiet_s(self) -> int:
        return self.start_s + self.quiet_day * DAY


# ---------------------------------------------------------------------------------------------
# small vectorised helpers


def _pick(rng: np.random.Generator, table: Arr, rows: Arr) -> Arr:
    """One column index per entry of `rows`, drawn from that row of the weight table."""
    table = np.atleast_2d(np.asarray(table, dtype=float))
    k, m = table.shape
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(k)[:, None]).ravel()
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.searchsorted(flat, rows + rng.random(len(rows)), side="right")
    return np.minimum(pos - rows * m, m - 1)


def _choice(rng: np.random.Generator, weights: Any, n: int) -> Arr:
    """n draws of an index from one weight vector."""
    return _pick(rng, np.asarray(weights, dtype=float), np.zeros(n, dtype=np.int64))


def _uniform_int(rng: np.random.Generator, lo: Arr, hi: Arr) -> Arr:
    """Integers uniform in [lo, hi] (inclusive, element-wise)."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def _mix(x: Arr, bits: int) -> Arr:
    """A bijection of [0, 2**bits): odd multiplies and xor-shifts, wrapping in uint64."""
    mask = np.uint64((1 << bits) - 1)
    for mult, shift in ((0x9E3779B97F4A7C15, bits // 2), (0xBF58476D1CE4E5B9, bits // 3 + 1)):
        x = (x * np.uint64(mult)) & mask
        x ^= x >> np.uint64(shift)
    return x


def _permute(k: Arr, modulus: int, salt: int) -> Arr:
    """A salted bijection of [0, modulus) (cycle walking), so ids look random yet never clash."""
    bits = max(int(modulus - 1).bit_length(), 8)
    mask = np.uint64((1 << bits) - 1)
    y = np.asarray(k).astype(np.uint64)
    todo = np.arange(len(y))
    while todo.size:
        y[todo] = _mix((y[todo] + np.uint64(salt)) & mask, bits)
        todo = todo[y[todo] >= modulus]
    return y.astype(np.int64)


def _ips(rng: np.random.Generator, n: int, nets: tuple[int, ...]) -> Arr:
    """Random IPv4 addresses (as integers) whose first octet is one of `nets`."""
    first = np.asarray(nets, dtype=np.int64)[rng.integers(0, len(nets), n)]
    return (first << 24) + (rng.integers(0, 1 << 16, n) << 8) + rng.integers(1, 255, n)


def _group_bounds(sorted_keys: Arr, n_groups: int) -> tuple[Arr, Arr]:
    """First and last position of each group in an array sorted by group."""
    groups = np.arange(n_groups)
    first = np.searchsorted(sorted_keys, groups, side="left")
    return first, np.searchsorted(sorted_keys, groups, side="right") - 1


# ---------------------------------------------------------------------------------------------
# text columns built in numpy byte buffers (much faster than per-row Python or pc.strftime)


def _put_digits(buf: Arr, col: int, values: Arr, width: int) -> None:
    """Zero-padded decimal digits of `values` into buf[:, col:col + width]."""
    v = np.asarray(values, dtype=np.int64)
    for i in range(width - 1, -1, -1):
        buf[:, col + i] = 48 + v % 10
        v = v // 10


def _put_hex(buf: Arr, col: int, values: Arr, width: int, upper: bool) -> None:
    lut = np.frombuffer(b"0123456789ABCDEF" if upper else b"0123456789abcdef", dtype=np.uint8)
    v = np.asarray(values).astype(np.uint64)
    for i in range(width - 1, -1, -1):
        buf[:, col + i] = lut[(v & np.uint64(15)).astype(np.int64)]
        v = v >> np.uint64(4)


def _string_array(buf: Arr) -> pa.Array:
    """The rows of a fixed-width byte buffer as a string array (no copy through Python)."""
    n, w = buf.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(w)
    data = np.ascontiguousarray(buf, dtype=np.uint8).ravel()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _compose(sections: list[tuple[Arr, Arr]]) -> pa.Array:
    """Concatenate per-row variable-length byte sections (buffer, used length) into strings."""
    buf = np.concatenate([b for b, _ in sections], axis=1)
    used = np.concatenate(
        [np.arange(b.shape[1])[None, :] < n[:, None] for b, n in sections], axis=1
    )
    lengths = np.sum([n for _, n in sections], axis=0)
    offsets = np.zeros(len(buf) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = buf[used]
    return pa.Array.from_buffers(
        pa.string(), len(buf), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _id_text(prefix: str, numbers: Arr, width: int, hex_upper: bool | None = None) -> pa.Array:
    """prefix + zero-padded decimal (or hex when hex_upper is set) of each number."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    buf = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    buf[:, : len(head)] = head
    if hex_upper is None:
        _put_digits(buf, len(head), numbers, width)
    else:
        _put_hex(buf, len(head), numbers, width, hex_upper)
    return _string_array(buf)


def _civil(seconds: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr]:
    """(year, month, day, hour, minute, second) of epoch seconds."""
    days = seconds // DAY
    rest = seconds - days * DAY
    d = days.astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return year, month, day, rest // 3600, rest // 60 % 60, rest % 60


def _datetime_buf(seconds: Arr, sep: str, with_time: bool = True) -> Arr:
    """'YYYY-MM-DD<sep>HH:MM:SS' (or just the date) as a byte buffer."""
    parts = _civil(np.asarray(seconds, dtype=np.int64))
    buf = np.empty((len(seconds), 19 if with_time else 10), dtype=np.uint8)
    layout = ((0, 4, "-"), (5, 2, "-"), (8, 2, sep), (11, 2, ":"), (14, 2, ":"), (17, 2, ""))
    for (col, width, after), values in zip(layout[: 6 if with_time else 3], parts, strict=False):
        _put_digits(buf, col, values, width)
        if after and col + width < buf.shape[1]:
            buf[:, col + width] = ord(after)
    return buf


def _datetime_text(seconds: Arr, with_time: bool = True) -> pa.Array:
    return _string_array(_datetime_buf(seconds, " ", with_time))


def _ts_text(rng: np.random.Generator, ts_ms: Arr) -> pa.Array:
    """The instants in a random mix of ISO-with-offset, epoch seconds and epoch milliseconds."""
    n = len(ts_ms)
    fmt = _choice(rng, FORMAT_P, n)
    has_ms = ts_ms % 1000 != 0
    fmt[(fmt == 1) & has_ms] = 2  # epoch seconds cannot carry the milliseconds
    tz = _choice(rng, TZ_P, n)
    iso = fmt == 0
    local = ts_ms // 1000 + np.asarray(TZ_SECONDS)[tz]
    frac = np.empty((n, 4), dtype=np.uint8)
    frac[:, 0] = ord(".")
    _put_digits(frac, 1, ts_ms % 1000, 3)
    suffix = np.zeros((3, 6), dtype=np.uint8)
    for i, name in enumerate(TZ_NAMES):
        suffix[i, : len(name)] = np.frombuffer(name.encode(), dtype=np.uint8)
    epoch = np.empty((n, 13), dtype=np.uint8)
    _put_digits(epoch, 0, np.where(fmt == 1, ts_ms // 1000 * 1000, ts_ms), 13)
    epoch_len = np.where(fmt == 1, 10, np.where(fmt == 2, 13, 0))
    return _compose([
        (_datetime_buf(local, "T"), np.where(iso, 19, 0)),
        (frac, np.where(iso & has_ms, 4, 0)),
        (suffix[tz], np.where(iso, np.asarray([len(t) for t in TZ_NAMES])[tz], 0)),
        (epoch, epoch_len),
    ])


def _with_bad_ts(text: pa.Array, bad: Arr, variant: Arr) -> pa.Array:
    """Replace the rows flagged `bad` with unreadable timestamps (or null)."""
    if not bad.any():
        return text
    values = pa.array([BAD_TS[v] for v in variant[bad]], type=pa.string())
    return pc.replace_with_mask(text, pa.array(bad), values)


def _ip_text(ip: Arr) -> pa.Array:
    """Dotted-quad text of IPv4 addresses held as integers."""
    sections: list[tuple[Arr, Arr]] = []
    for i, shift in enumerate((24, 16, 8, 0)):
        v = (ip >> shift) & 255
        n_digits = 1 + (v >= 10) + (v >= 100)
        buf = np.empty((len(ip), 3), dtype=np.uint8)
        for pos in range(3):
            power = np.maximum(n_digits - 1 - pos, 0)
            buf[:, pos] = 48 + (v // 10**power) % 10
        sections.append((buf, n_digits))
        if i < 3:
            sections.append((np.full((len(ip), 1), ord("."), dtype=np.uint8), np.ones(len(ip))))
    return _compose([(b, n.astype(np.int64)) for b, n in sections])


def _money(cents: Arr) -> pa.Array:
    """Integer cents as decimal128(14, 2), so the CSV shows exactly two decimals."""
    lo = np.asarray(cents, dtype=np.int64)
    data = np.stack([lo, np.where(lo < 0, -1, 0)], axis=1).ravel()  # little-endian int128
    return pa.Array.from_buffers(pa.decimal128(14, 2), len(lo), [None, pa.py_buffer(data)])


def _take(values: pa.Array, index: Arr) -> pa.Array:
    """values[index], null where index < 0."""
    index = np.asarray(index, dtype=np.int64)
    return pc.take(values, pa.array(index, mask=index < 0))


def _nullable_int(values: Arr) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, mask=values < 0)


def _write_csv(path: Path, table: pa.Table) -> None:
    pa_csv.write_csv(table, path)


# ---------------------------------------------------------------------------------------------
# catalogue


@dataclass
class _Catalogue:
    cat: Arr  # per item: category index
    brand: Arr  # per item: brand index
    price: Arr  # per item: cents
    weight: Arr  # per item: popularity within its category
    names: list[str]
    brand_names: list[str]
    brand_cat: Arr
    luxury_brands: list[Arr]  # per category: the brands brand-loyal persons favour
    planted: list[tuple[int, int]]  # per rule: (antecedent item, consequent item)
    group_items: Arr  # sampling groups: any tier, cheap tier, premium items of each brand
    group_cum: Arr
    group_first: Arr
    group_last: Arr
    queries: list[str]
    query_first: Arr
    query_count: Arr

    def draw(self, rng: np.random.Generator, groups: Arr) -> Arr:
        """One popularity-weighted item of each requested sampling group."""
        pos = np.searchsorted(self.group_cum, groups + rng.random(len(groups)), side="right")
        return self.group_items[np.clip(pos, self.group_first[groups], self.group_last[groups])]


def _make_brands(rng: np.random.Generator) -> tuple[list[str], Arr, Arr, list[Arr]]:
    """Brand names, category, price multiplier, and per category its luxury brands."""
    per_cat = rng.integers(5, 16, N_CAT)
    combos = [f"{h}_{t}" for h in gp.BRAND_HEADS for t in gp.BRAND_TAILS]
    chosen = rng.choice(len(combos), int(per_cat.sum()), replace=False)
    brand_cat = np.repeat(np.arange(N_CAT), per_cat)
    mult = rng.uniform(0.5, 1.6, len(brand_cat))
    luxury = []
    for c, first in enumerate(np.cumsum(per_cat) - per_cat):
        own = first + rng.permutation(per_cat[c])[: max(2, round(0.3 * per_cat[c]))]
        mult[own] = rng.uniform(2.5, 4.0, len(own))  # what brand-loyal persons stick to
        luxury.append(np.sort(own))
    return [combos[i] for i in chosen], brand_cat, mult, luxury


def _make_items(rng: np.random.Generator, brand_cat: Arr, mult: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    counts = gp.N_ITEMS // N_CAT + (np.arange(N_CAT) < gp.N_ITEMS % N_CAT)
    cat = np.repeat(np.arange(N_CAT), counts)
    brand = np.empty(gp.N_ITEMS, dtype=np.int64)
    weight = np.empty(gp.N_ITEMS)
    for c, first in enumerate(np.cumsum(counts) - counts):
        own = np.flatnonzero(brand_cat == c)
        share = rng.gamma(1.0, size=len(own))
        picks = own[_choice(rng, share, counts[c] - len(own))]
        brand[first:first + counts[c]] = np.concatenate([own, picks])  # every brand sells
        weight[first:first + counts[c]] = 1.0 / (1 + rng.permutation(counts[c]))  # Zipf ranks
    base = np.array([c.base_price for c in gp.CATEGORIES])[cat]
    yuan = np.maximum(1, np.floor(base * mult[brand] * rng.lognormal(0.0, 0.35, gp.N_ITEMS)))
    price = yuan.astype(np.int64) * 100 + np.array([0, 90, 99])[rng.integers(0, 3, gp.N_ITEMS)]
    return cat, brand, price, weight


def _plant_items(rng: np.random.Generator, cat: Arr, brand: Arr, price: Arr,
                 weight: Arr, brand_cat: Arr) -> list[tuple[int, int]]:
    """Turn the last two items of each rule's category into its antecedent and consequent."""
    planted = []
    for rule in gp.RULES:
        c = CAT_INDEX[rule.category]
        last = int(np.flatnonzero(cat == c)[-1])
        ante, cons = last, last - 1
        own = np.flatnonzero(brand_cat == c)
        brand[[ante, cons]] = own[rng.integers(0, len(own))]  # one brand: loyalty stays intact
        price[ante] = round(rule.antecedent_price * 100)
        price[cons] = round(rule.consequent_price * 100)
        weight[ante], weight[cons] = 1.5, 1.0 / 30  # the antecedent is the category's top seller
        planted.append((ante, cons))
    return planted


def _item_names(rng: np.random.Generator, cat: Arr, brand: Arr, brand_names: list[str],
                planted: list[tuple[int, int]]) -> list[str]:
    special = {}
    for (ante, cons), rule in zip(planted, gp.RULES, strict=True):
        special[ante], special[cons] = rule.antecedent, rule.consequent
    noun_pick = rng.random(len(cat))
    model = rng.integers(1, 100, len(cat))
    names = []
    for i, (c, b) in enumerate(zip(cat.tolist(), brand.tolist(), strict=True)):
        title = brand_names[b].replace("_", " ").title()
        if i in special:
            names.append(f"{title} {special[i].replace('_', ' ').title()}")
            continue
        nouns = gp.CATEGORIES[c].nouns
        noun = nouns[int(noun_pick[i] * len(nouns))].replace("_", " ").title()
        names.append(f"{title} {noun} {model[i]}")
    return names


def _sampling_groups(cat: Arr, brand: Arr, price: Arr, n_brands: int) -> list[Arr]:
    groups = [np.flatnonzero(cat == c) for c in range(N_CAT)]
    for c in range(N_CAT):
        own = np.flatnonzero(cat == c)
        groups.append(own[price[own] <= np.quantile(price[own], 1 / 3)])  # bottom price third
    for b in range(n_brands):
        own = np.flatnonzero(brand == b)
        groups.append(own[price[own] >= np.median(price[own])])
    return groups


def _queries() -> tuple[list[str], Arr, Arr]:
    texts: list[str] = []
    first, count = [], []
    for c in gp.CATEGORIES:
        nouns = list(c.nouns) + [n for r in gp.RULES if r.category == c.name
                                 for n in (r.antecedent, r.consequent)]
        first.append(len(texts))
        texts += [t.format(n.replace("_", " ")) for n in nouns for t in gp.QUERY_TEMPLATES]
        count.append(len(texts) - first[-1])
    return texts, np.array(first), np.array(count)


def _make_catalogue(rng: np.random.Generator) -> _Catalogue:
    brand_names, brand_cat, mult, luxury = _make_brands(rng)
    cat, brand, price, weight = _make_items(rng, brand_cat, mult)
    planted = _plant_items(rng, cat, brand, price, weight, brand_cat)
    names = _item_names(rng, cat, brand, brand_names, planted)
    groups = _sampling_groups(cat, brand, price, len(brand_names))
    cum = [g + np.cumsum(weight[items]) / weight[items].sum() for g, items in enumerate(groups)]
    sizes = np.array([len(g) for g in groups])
    first = np.cumsum(sizes) - sizes
    queries, q_first, q_count = _queries()
    return _Catalogue(
        cat, brand, price, weight, names, brand_names, brand_cat, luxury, planted,
        np.concatenate(groups), np.concatenate(cum), first, first + sizes - 1,
        queries, q_first, q_count,
    )


def _draw_items(rng: np.random.Generator, cat: _Catalogue, persona: Arr, fav: Arr) -> Arr:
    """One item per draw following the drawing person's persona (categories, price tier, brand)."""
    group = _pick(rng, CAT_P, persona)
    tier = TIER[persona]
    group[tier == 1] += N_CAT
    loyal = np.flatnonzero(tier == 2)
    favourite = fav[loyal]
    stays = rng.random(len(loyal)) < 0.95
    # the rest are cheap extras of the same category, so the favourite keeps >= 85% of spend
    group[loyal] = np.where(stays, 2 * N_CAT + favourite, N_CAT + cat.brand_cat[favourite])
    return cat.draw(rng, group)


# ---------------------------------------------------------------------------------------------
# persons, accounts, devices


@dataclass
class _People:
    persona: Arr  # per person
    age: Arr
    female: Arr
    has_phone: Arr
    fav_brand: Arr  # -1 unless brand loyal
    home_ip: Arr
    city: Arr
    second: Arr  # account index of the second account, -1 if none
    acc_person: Arr  # per account; accounts 0..n-1 are the persons' primary accounts
    acc_num: Arr  # numeric part of the user id
    dev_person: Arr  # per device
    dev_profile: Arr
    dev_first: Arr  # per person: index of its first device
    n_dev: Arr

    @property
    def n(self) -> int:
        return len(self.persona)


def _persona_counts(n: int) -> Arr:
    """Persons per persona: shares rounded by largest remainder, so they sum to n."""
    raw = np.array([p.share for p in P]) / sum(p.share for p in P) * n
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(counts - raw, kind="stable")[: n - counts.sum()]] += 1
    return counts


def _accounts(rng: np.random.Generator, n: int, users: int, salt: int) -> tuple[Arr, Arr, Arr]:
    chosen = np.sort(rng.choice(n, users - n, replace=False))
    second = np.full(n, -1, dtype=np.int64)
    second[chosen] = n + np.arange(len(chosen))
    acc_num = 1_000_000 + _permute(np.arange(users), 9_000_000, salt)
    a, b = acc_num[chosen], acc_num[second[chosen]]
    acc_num[chosen], acc_num[second[chosen]] = np.minimum(a, b), np.maximum(a, b)
    return second, np.concatenate([np.arange(n), chosen]), acc_num  # primary = smaller user id


def _favourite_brands(rng: np.random.Generator, persona: Arr, cat: _Catalogue) -> Arr:
    fav = np.full(len(persona), -1, dtype=np.int64)
    loyal = np.flatnonzero(TIER[persona] == 2)
    category = _pick(rng, CAT_P, persona[loyal])
    pick = rng.random(len(loyal))
    for c in range(N_CAT):
        sel = category == c
        options = cat.luxury_brands[c]
        fav[loyal[sel]] = options[(pick[sel] * len(options)).astype(np.int64)]
    return fav


def _devices(rng: np.random.Generator, persona: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    n_dev = _choice(rng, (0.55, 0.35, 0.10), len(persona)) + 1
    dev_person = np.repeat(np.arange(len(persona)), n_dev)
    dev_first = np.cumsum(n_dev) - n_dev
    main = np.arange(len(dev_person)) == dev_first[dev_person]
    platforms = np.array([p.platforms for p in P] + [[0.45, 0.3, 0.25]])
    platform = _pick(rng, platforms, np.where(main, persona[dev_person], len(P)))
    profile = np.empty(len(dev_person), dtype=np.int64)
    pick = rng.random(len(dev_person))
    for k, name in enumerate(gp.PLATFORMS):
        options = np.array([i for i, prof in enumerate(gp.DEVICE_PROFILES) if prof[0] == name])
        sel = platform == k
        profile[sel] = options[(pick[sel] * len(options)).astype(np.int64)]
    return dev_person, profile, dev_first, n_dev


def _make_people(rng: np.random.Generator, users: int, cat: _Catalogue, salt: int) -> _People:
    n = round(users / ACCOUNTS_PER_PERSON)
    persona = rng.permutation(np.repeat(np.arange(len(P)), _persona_counts(n)))
    age = _uniform_int(rng, AGE[persona, 0], AGE[persona, 1])
    female = rng.random(n) < _col("p_female")[persona]
    second, acc_person, acc_num = _accounts(rng, n, users, salt)
    has_phone = (rng.random(n) < P_PHONE) | (second >= 0)  # the phone links the two accounts
    fav = _favourite_brands(rng, persona, cat)
    home_ip = _ips(rng, n, gp.HOME_NETS)
    city = _choice(rng, gp.CITY_P, n)
    dev_person, profile, dev_first, n_dev = _devices(rng, persona)
    return _People(persona, age, female, has_phone, fav, home_ip, city, second, acc_person,
                   acc_num, dev_person, profile, dev_first, n_dev)


# ---------------------------------------------------------------------------------------------
# orders


@dataclass
class _Orders:
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
    n = _uniform_int(rng, ORDERS_RANGE[persona, 0], ORDERS_RANGE[persona, 1])
    scaled = np.maximum(1, np.rint(n * days / 365)).astype(np.int64)
    return np.where(LAPSED[persona], n, scaled)  # lapsed history does not grow with the window


def _allowed_days(win: _Window) -> tuple[list[Arr], list[Arr]]:
    """Per persona: the days its orders may fall on, and the last ACTIVE_DAYS of them."""
    days = np.arange(win.n_days)
    weekend = (win.weekday0 + days) % 7 >= 5
    allowed, recent = [], []
    for p in P:
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


def _order_days(rng: np.random.Generator, person: Arr, persona: Arr, recent: Arr,
                win: _Window) -> Arr:
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


def _order_times(rng: np.random.Generator, persona: Arr, day: Arr, win: _Window) -> Arr:
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


def _baskets(rng: np.random.Generator, cat: _Catalogue, ppl: _People,
             person: Arr) -> tuple[Arr, Arr]:
    persona = ppl.persona[person]
    n_items = _pick(rng, _col("items_per_order"), persona) + 1
    flat = np.repeat(person, 4)
    items = _draw_items(rng, cat, ppl.persona[flat], ppl.fav_brand[flat]).reshape(-1, 4)
    items[np.arange(4)[None, :] >= n_items[:, None]] = -1
    items = _compact(items)
    qty = (_pick(rng, _col("quantity"), np.repeat(persona, 4)) + 1).reshape(-1, 4)
    return items, np.where(items >= 0, qty, 0)


def _plant_rules(rng: np.random.Generator, items: Arr, qty: Arr,
                 planted: list[tuple[int, int]]) -> None:
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


def _actors(rng: np.random.Generator, ppl: _People, person: Arr,
            p_main: float) -> tuple[Arr, Arr]:
    """(device, account) of sessions: mostly the main device; the second account 30%."""
    u = rng.random(len(person))
    other = (rng.random(len(person)) * ppl.n_dev[person]).astype(np.int64)
    device = ppl.dev_first[person] + np.where(u < p_main, 0, other)
    second = ppl.second[person]
    use_second = (second >= 0) & (rng.random(len(person)) < 0.3)
    return device, np.where(use_second, second, person)


def _make_orders(rng: np.random.Generator, ppl: _People, cat: _Catalogue,
                 win: _Window) -> _Orders:
    counts = _order_counts(rng, ppl.persona, win.n_days - 1)
    person = np.repeat(np.arange(ppl.n), counts)
    persona = ppl.persona[person]
    first = np.arange(len(person)) == (np.cumsum(counts) - counts)[person]
    recent = first & ~LAPSED[persona] & (rng.random(len(person)) < P_ACTIVE)
    ts = _order_times(rng, persona, _order_days(rng, person, persona, recent, win), win)
    items, qty = _baskets(rng, cat, ppl, person)
    _plant_rules(rng, items, qty, cat.planted)
    gross = np.where(items >= 0, qty * cat.price[np.maximum(items, 0)], 0).sum(axis=1)
    coupon = rng.random(len(person)) < _col("coupon_p")[persona]
    pct = _uniform_int(rng, DISCOUNT_PCT[persona, 0], DISCOUNT_PCT[persona, 1])
    pct = np.where(coupon, pct, 0)
    discount = np.rint(gross * pct / 100).astype(np.int64)
    pay = _pick(rng, _col("pay"), persona)
    device, account = _actors(rng, ppl, person, 0.85)
    return _Orders(person, account, device, ts, items, qty, pct, discount, gross, pay)


# ---------------------------------------------------------------------------------------------
# people's sessions and events


@dataclass
class _Block:
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


def _offsets(gaps: Arr, length: Arr) -> Arr:
    """Offset of each event from its session's first event, given per-event gaps."""
    first = np.cumsum(length) - length
    gaps = gaps.copy()
    gaps[first] = 0
    total = np.cumsum(gaps)
    return total - np.repeat(total[first], length)


def _purchase_rows(rng: np.random.Generator, o: _Orders,
                   search_p: Arr) -> tuple[Arr, Arr, Arr]:
    """(order, event type, item) of purchase-session events, sorted by order then step."""
    n = len(o.person)
    line = o.items >= 0
    vo, vj = np.nonzero(line & (rng.random((n, 4)) < P_VIEW_LINE))
    co, cj = np.nonzero(line & (rng.random((n, 4)) < P_CART_LINE))
    so = np.flatnonzero(rng.random(n) < search_p)
    every = np.arange(n)
    owner = np.concatenate([so, vo, co, every, every])
    step = np.concatenate([np.zeros(len(so)), 1 + 2 * vj, 2 + 2 * cj, np.full(n, 20),
                           np.full(n, 21)])
    etype = np.concatenate([np.full(len(so), gp.SEARCH), np.full(len(vo), gp.VIEW),
                            np.full(len(co), gp.CART), np.full(n, gp.ORDER), np.full(n, gp.PAY)])
    item = np.concatenate([np.full(len(so), -1), o.items[vo, vj], o.items[co, cj],
                           o.items[:, 0], o.items[:, 0]])
    order = np.lexsort((step, owner))
    return owner[order], etype[order], item[order]


def _purchase_block(rng: np.random.Generator, ppl: _People, o: _Orders) -> _Block:
    """One session per order: search, views, carts, then order and pay at the order's second."""
    owner, etype, item = _purchase_rows(rng, o, _col("purchase_search_p")[ppl.persona[o.person]])
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
    return _Block(owner, etype, item, ts, anon, o.person, o.device, o.account, np.ones(n, bool))


def _single_event_block(etype: int, person: Arr, item: Arr, ts_s: Arr, anon: Arr,
                        device: Arr, account: Arr) -> _Block:
    n = len(person)
    return _Block(np.arange(n), np.full(n, etype), item, ts_s * 1000, anon, person, device,
                  account, np.zeros(n, dtype=bool))


def _review_block(rng: np.random.Generator, ppl: _People, o: _Orders, win: _Window) -> _Block:
    """A review of one item of some orders, 3-20 days later (lapsed: before the quiet days)."""
    sel = np.flatnonzero(rng.random(len(o.person)) < P_REVIEW)
    ts = o.ts[sel] + rng.integers(3 * DAY, 20 * DAY, len(sel))
    person = o.person[sel]
    slot = (rng.random(len(sel)) * o.n_items[sel]).astype(np.int64)
    device, _ = _actors(rng, ppl, person, 0.6)
    limit = np.where(LAPSED[ppl.persona[person]], win.quiet_s - DAY, win.end_s)
    ok = ts <= limit
    return _single_event_block(gp.REVIEW, person[ok], o.items[sel, slot][ok], ts[ok],
                               np.zeros(int(ok.sum()), dtype=bool), device[ok],
                               o.account[sel][ok])


def _next_in_category(item: Arr, cat: _Catalogue) -> Arr:
    counts = np.bincount(cat.cat, minlength=N_CAT)
    first = (np.cumsum(counts) - counts)[cat.cat[item]]
    return first + (item - first + 1) % counts[cat.cat[item]]


def _avoid_bought(item: Arr, carted: Arr, person: Arr, o: _Orders, cat: _Catalogue) -> None:
    """Browse-session carts are abandoned: move them off items their person ever orders."""
    line = o.items >= 0
    bought = np.sort(np.repeat(o.person, 4)[line.ravel()] * gp.N_ITEMS + o.items[line])
    idx = np.flatnonzero(carted)
    while idx.size:
        key = person[idx] * gp.N_ITEMS + item[idx]
        pos = np.minimum(np.searchsorted(bought, key), len(bought) - 1)
        idx = idx[bought[pos] == key]  # sorted lookup: far cheaper than np.isin in a loop
        item[idx] = _next_in_category(item[idx], cat)


def _browse_starts(rng: np.random.Generator, persona: Arr, duration: Arr,
                   win: _Window) -> Arr:
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


def _browse_block(rng: np.random.Generator, ppl: _People, cat: _Catalogue, o: _Orders,
                  win: _Window) -> _Block:
    """Sessions without an order: views, clicks, searches, abandoned carts and shares."""
    persona = ppl.persona
    years = np.where(LAPSED[persona], (win.quiet_day - 1) / 365, win.n_days / 365)
    s_person = np.repeat(np.arange(ppl.n), rng.poisson(_col("browse_per_year")[persona] * years))
    s_persona = persona[s_person]
    length = np.minimum(rng.geometric(1 / _col("browse_len")[s_persona]), MAX_SESSION)
    sess = np.repeat(np.arange(len(s_person)), length)
    e_person = s_person[sess]
    etype = np.asarray(gp.BROWSE_TYPES)[_pick(rng, BROWSE_P, persona[e_person])]
    item = _draw_items(rng, cat, persona[e_person], ppl.fav_brand[e_person])
    item[etype == gp.SEARCH] = -1
    _avoid_bought(item, etype == gp.CART, e_person, o, cat)
    offsets = _offsets(_gaps(rng, len(sess)), length)
    start = _browse_starts(rng, s_persona, offsets[np.cumsum(length) - 1], win)
    device, account = _actors(rng, ppl, s_person, 0.6)
    anon = (rng.random(len(s_person)) < P_ANON_BROWSE)[sess]
    return _Block(sess, etype, item, (start[sess] + offsets) * 1000, anon, s_person, device,
                  account, np.zeros(len(s_person), dtype=bool))


def _quiet_views(rng: np.random.Generator, ppl: _People, cat: _Catalogue,
                 win: _Window) -> _Block:
    """Lapsed persons' only activity in the quiet days: 0-2 single views."""
    person = np.flatnonzero(LAPSED[ppl.persona])
    person = np.repeat(person, _choice(rng, (0.5, 0.3, 0.2), len(person)))
    ts = win.quiet_s + (rng.random(len(person)) * (win.end_s + 1 - win.quiet_s)).astype(np.int64)
    item = _draw_items(rng, cat, ppl.persona[person], ppl.fav_brand[person])
    device, account = _actors(rng, ppl, person, 0.6)
    anon = rng.random(len(person)) < 0.5
    return _single_event_block(gp.VIEW, person, item, ts, anon, device, account)


# Compact dtypes keep ~30 bytes per event: a million users (~30M events) fit in a few GB.
_BLOCK_DTYPES = {"etype": np.int8, "item": np.int32, "ts": np.int64, "anon": np.bool_,
                 "s_person": np.int32, "s_device": np.int32, "s_account": np.int32,
                 "s_purchase": np.bool_}


def _concat(blocks: list[_Block]) -> _Block:
    offsets = np.cumsum([0] + [b.n_sessions for b in blocks])
    fields = {
        name: np.concatenate([getattr(b, name).astype(dtype, copy=False) for b in blocks])
        for name, dtype in _BLOCK_DTYPES.items()
    }
    sess = np.concatenate([(b.sess + off).astype(np.int32)
                           for b, off in zip(blocks, offsets, strict=False)])
    return _Block(sess=sess, **fields)


def _overlap_keep(b: _Block, win: _Window) -> Arr:
    """Sessions to keep so that no device has two sessions within a minute of each other.

    Purchase sessions never overlap (one order per person and day); other sessions that touch
    a purchase session, or an earlier other session, of their device are dropped.
    """
    first, last = _group_bounds(b.sess, b.n_sessions)
    start, end = b.ts[first] // 1000 - win.start_s, b.ts[last] // 1000 - win.start_s
    dev, span, margin = b.s_device.astype(np.int64), np.int64(1 << 34), 60
    keep = np.ones(b.n_sessions, dtype=bool)
    pur = np.flatnonzero(b.s_purchase)
    pur = pur[np.argsort(dev[pur] * span + start[pur], kind="stable")]
    other = np.flatnonzero(~b.s_purchase)
    pos = np.searchsorted(dev[pur] * span + start[pur], dev[other] * span + end[other] + margin,
                          side="right") - 1
    near = pur[np.maximum(pos, 0)]
    touches = (pos >= 0) & (dev[near] == dev[other]) & (end[near] + margin > start[other])
    keep[other[touches]] = False
    rest = other[~touches]
    rest = rest[np.argsort(dev[rest] * span + start[rest], kind="stable")]
    reach = np.maximum.accumulate(dev[rest] * span + end[rest])
    keep[rest[1:][reach[:-1] + margin > dev[rest[1:]] * span + start[rest[1:]]]] = False
    return keep


def _keep_sessions(b: _Block, keep: Arr) -> _Block:
    renumber = np.cumsum(keep) - 1
    e = keep[b.sess]
    return _Block(renumber[b.sess[e]], b.etype[e], b.item[e], b.ts[e], b.anon[e],
                  b.s_person[keep], b.s_device[keep], b.s_account[keep], b.s_purchase[keep])


def _drop_unused_devices(b: _Block, ppl: _People, o: _Orders) -> None:
    """Keep only devices that log events, so truth's devices are exactly the logged ones."""
    used = np.unique(b.s_device)
    b.s_device = np.searchsorted(used, b.s_device)
    o.device = np.searchsorted(used, o.device)
    ppl.dev_person, ppl.dev_profile = ppl.dev_person[used], ppl.dev_profile[used]
    ppl.n_dev = np.bincount(ppl.dev_person, minlength=ppl.n)
    ppl.dev_first = np.cumsum(ppl.n_dev) - ppl.n_dev


def _human_block(rng: np.random.Generator, ppl: _People, cat: _Catalogue, o: _Orders,
                 win: _Window) -> _Block:
    blocks = [
        _purchase_block(rng, ppl, o),
        _review_block(rng, ppl, o, win),
        _browse_block(rng, ppl, cat, o, win),
        _quiet_views(rng, ppl, cat, win),
    ]
    merged = _concat(blocks)
    del blocks
    merged = _keep_sessions(merged, _overlap_keep(merged, win))
    _drop_unused_devices(merged, ppl, o)
    return merged


# ---------------------------------------------------------------------------------------------
# bots and the assembled event log


@dataclass
class _Bots:
    block: _Block  # s_device counts from 0 within the bots
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
        length = np.where(rate[s_dev], rng.integers(100, 301, len(s_dev)),
                          rng.integers(20, 201, len(s_dev)))
        total = np.cumsum(length)
        if total[-1] >= target:
            n_s = int(np.searchsorted(total, target)) + 1
            return rate[: s_dev[n_s - 1] + 1], s_dev[:n_s], length[:n_s]
        m *= 2


def _make_bots(rng: np.random.Generator, target: int, win: _Window) -> _Bots:
    rate, s_dev, length = _bot_sessions(rng, target)
    sess = np.repeat(np.arange(len(s_dev)), length)
    e_rate = rate[s_dev][sess]
    gaps = np.where(e_rate, rng.integers(500, 2001, len(sess)),
                    rng.integers(2000, 20001, len(sess)))
    offsets = _offsets(gaps, length)
    room = (win.end_s + 1 - win.start_s) * 1000 - offsets[np.cumsum(length) - 1]
    start = win.start_s * 1000 + (rng.random(len(s_dev)) * room).astype(np.int64)
    kinds = np.array([[0.55, 0.25, 0.20], [0.85, 0.05, 0.10]])  # view, click, search
    etype = np.array([gp.VIEW, gp.CLICK, gp.SEARCH])[_pick(rng, kinds, (~e_rate).astype(int))]
    item = rng.integers(0, gp.N_ITEMS, len(sess))  # crawlers walk the whole catalogue
    item[etype == gp.SEARCH] = -1
    web = np.array([i for i, p in enumerate(gp.DEVICE_PROFILES) if p[0] == "web"])
    profile = np.where(rate, web[rng.integers(0, len(web), len(rate))],
                       len(gp.DEVICE_PROFILES) + rng.integers(0, len(gp.BOT_PROFILES), len(rate)))
    none = np.full(len(s_dev), -1)
    block = _Block(sess, etype, item, start[sess] + offsets, np.ones(len(sess), dtype=bool),
                   none, s_dev, none, np.zeros(len(s_dev), dtype=bool))
    return _Bots(block, rate, profile, _ips(rng, len(rate), gp.CLOUD_NETS))


@dataclass
class _Log:
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


def _dwell_and_query(rng: np.random.Generator, etype: Arr, persona: Arr,
                     cat: _Catalogue) -> tuple[Arr, Arr]:
    """View dwell times (people ~15 s, bots < 1 s) and search queries (persona's categories)."""
    n = len(etype)
    human = persona >= 0
    dwell = np.where(human, np.minimum(rng.lognormal(np.log(15_000), 0.8, n), 600_000),
                     rng.integers(50, 801, n)).astype(np.int64)
    dwell[etype != gp.VIEW] = -1
    table = np.vstack([CAT_P, np.ones(N_CAT)])  # last row: bots search anything
    qcat = _pick(rng, table, np.where(human, persona, len(P)))
    query = cat.query_first[qcat] + (rng.random(n) * cat.query_count[qcat]).astype(np.int64)
    query[etype != gp.SEARCH] = -1
    return dwell.astype(np.int32), query.astype(np.int32)


def _make_log(rng: np.random.Generator, people: _Block, bots: _Bots, ppl: _People,
              cat: _Catalogue) -> _Log:
    n_dev = len(ppl.dev_person)
    b = _concat([people, replace(bots.block, s_device=bots.block.s_device + n_dev)])
    s_persona = np.where(b.s_person >= 0, ppl.persona[np.maximum(b.s_person, 0)], -1)
    dwell, query = _dwell_and_query(rng, b.etype, s_persona[b.sess], cat)
    acc = np.where(b.anon, np.int32(-1), b.s_account[b.sess])
    n_people = people.n_sessions
    home = rng.random(n_people) < 0.7
    ip = np.where(home, ppl.home_ip[people.s_person], _ips(rng, n_people, gp.HOME_NETS))
    s_ip = np.concatenate([ip, bots.ip[bots.block.s_device]])
    return _Log(b.sess, b.etype, b.item, b.ts, acc, dwell, query, b.s_device, s_ip,
                len(people.sess))


def _dirt_counts(n: int, defects: tuple[tuple[str, float], ...]) -> dict[str, int]:
    """At least one row of each kind of dirt, so every reason is always exercised."""
    return {name: max(1, round(share * n)) for name, share in defects}


@dataclass
class _EventRows:
    """events.csv in file order: the source event, its event number and the row's dirt."""

    src: Arr
    number: Arr  # event_id before scrambling; a duplicate repeats its source's number
    kind: Arr  # 0 clean or bot, 1 duplicate, 2 bad ts, 3 missing type, 4 missing identity
    variant: Arr  # which unreadable timestamp a kind-2 row gets


def _event_rows(rng: np.random.Generator, log: _Log) -> _EventRows:
    h, base = log.n_human, len(log.ts)
    dup = rng.choice(h, max(1, round(DUP_SHARE * h)), replace=False)
    bad_counts = list(_dirt_counts(h, EVENT_DEFECTS).values())
    bad = rng.integers(0, h, sum(bad_counts))  # copies of people's events, one defect each
    src = np.concatenate([np.arange(base), dup, bad]).astype(np.int32)
    number = np.concatenate([np.arange(base), dup, base + np.arange(len(bad))]).astype(np.int32)
    kind = np.concatenate([np.zeros(base, dtype=np.int8), np.ones(len(dup), dtype=np.int8),
                           np.repeat(np.array([2, 3, 4], dtype=np.int8), bad_counts)])
    delay = np.where(kind == 1, rng.integers(0, 120_000, len(src)), 0)  # retries arrive late
    order = np.argsort(log.ts[src] + delay, kind="stable")
    variant = rng.integers(0, len(BAD_TS), len(src)).astype(np.int8)
    return _EventRows(src[order], number[order], kind[order], variant[order])


# ---------------------------------------------------------------------------------------------
# text dictionaries and writers


@dataclass
class _Text:
    """String forms of every id and code, indexed like the arrays they label."""

    user_id: pa.Array  # per account
    device_id: pa.Array  # per device, people's then bots'
    phone: pa.Array  # per person
    item_id: pa.Array
    item_cat: pa.Array
    item_brand: pa.Array
    item_price: pa.Array
    profile: dict[str, pa.Array]  # platform, os, device_model, user_agent per profile
    event_type: pa.Array
    query: pa.Array
    session_id: pa.Array  # per session
    ip: pa.Array  # per session
    salts: dict[str, int]


def _make_text(ppl: _People, cat: _Catalogue, log: _Log, n_bot_devices: int,
               salts: dict[str, int]) -> _Text:
    n_dev = len(ppl.dev_person) + n_bot_devices
    dev_num = _mix((np.arange(n_dev, dtype=np.uint64) + np.uint64(salts["device"]))
                   & np.uint64((1 << 48) - 1), 48)
    phone = _mix(np.arange(ppl.n, dtype=np.uint64) + np.uint64(salts["phone"]), 64)
    item_num = 10_000 + _permute(np.arange(gp.N_ITEMS), 90_000, salts["item"])
    columns = ("platform", "os", "device_model", "user_agent")
    return _Text(
        user_id=_id_text("U", ppl.acc_num, 7),
        device_id=_id_text("D", dev_num, 12, hex_upper=True),
        phone=_id_text("", phone, 16, hex_upper=False),
        item_id=_id_text("I", item_num, 5),
        item_cat=pa.array([gp.CATEGORIES[c].name for c in cat.cat]),
        item_brand=pa.array([cat.brand_names[b] for b in cat.brand]),
        item_price=_money(cat.price),
        profile={c: pa.array([p[i] for p in PROFILES]) for i, c in enumerate(columns)},
        event_type=pa.array(gp.EVENT_TYPES),
        query=pa.array(cat.queries),
        session_id=_id_text("S", 10**11 + _permute(np.arange(len(log.s_ip)), 9 * 10**11,
                                                   salts["session"]), 12),
        ip=_ip_text(log.s_ip),
        salts=salts,
    )


def _nulls_where(values: pa.Array, mask: Arr) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def _event_chunk(rng: np.random.Generator, log: _Log, dev_profile: Arr, text: _Text,
                 rows: _EventRows, part: slice) -> pa.Table:
    src, kind = rows.src[part], rows.kind[part]
    sess = log.sess[src]
    dev = log.s_device[sess]
    item = log.item[src]
    profile = dev_profile[dev]
    event_no = 10**11 + _permute(rows.number[part], 9 * 10**11, text.salts["event"])
    columns: dict[str, pa.Array] = {
        "event_id": _id_text("E", event_no, 12),
        "user_id": _take(text.user_id, np.where(kind == 4, -1, log.acc[src])),
        "device_id": _take(text.device_id, np.where(kind == 4, -1, dev)),
        "event_type": _take(text.event_type, np.where(kind == 3, -1, log.etype[src])),
        "ts": _with_bad_ts(_ts_text(rng, log.ts[src]), kind == 2, rows.variant[part]),
        "item_id": _take(text.item_id, item),
        "category": _take(text.item_cat, item),
        "brand": _take(text.item_brand, item),
        "price": _take(text.item_price, item),
    }
    for name, values in text.profile.items():
        columns[name] = _take(values, profile)
    columns["dwell_ms"] = _nullable_int(log.dwell[src])
    columns["session_id"] = _take(text.session_id, sess)
    columns["ip"] = _take(text.ip, sess)
    columns["query"] = _take(text.query, log.query[src])
    return pa.table(columns)


def _write_events(rng: np.random.Generator, path: Path, log: _Log, dev_profile: Arr,
                  text: _Text, rows: _EventRows) -> None:
    """events.csv in chunks, so memory stays flat however many events there are."""
    writer: pa_csv.CSVWriter | None = None
    for lo in range(0, len(rows.src), CHUNK_ROWS):
        table = _event_chunk(rng, log, dev_profile, text, rows, slice(lo, lo + CHUNK_ROWS))
        if writer is None:
            writer = pa_csv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def _order_ids(numbers: Arr, salt: int) -> pa.Array:
    return _id_text("O", 10**9 + _permute(numbers, 9 * 10**9, salt), 10)


def _unknown_users(users: int, n: int, salt: int) -> Arr:
    """User numbers that no account has: the id bijection applied past the last account."""
    return 1_000_000 + _permute(users + np.arange(n), 9_000_000, salt)


def _order_rows(rng: np.random.Generator, o: _Orders) -> tuple[Arr, Arr, Arr, dict[str, int]]:
    """orders.csv rows in time order: (source order, defect kind 0-4, order number), counts."""
    n = len(o.person)
    counts = _dirt_counts(n, ORDER_DEFECTS)
    src = np.concatenate([np.arange(n), rng.integers(0, n, sum(counts.values()))])
    kind = np.concatenate([np.zeros(n, dtype=np.int64),
                           np.repeat(np.arange(1, 5), list(counts.values()))])
    order = np.argsort(o.ts[src], kind="stable")
    return src[order], kind[order], order, counts  # clean order i keeps number i


def _write_orders(rng: np.random.Generator, out: Path, o: _Orders, ppl: _People,
                  text: _Text) -> tuple[dict[str, int], Arr]:
    """orders.csv sorted by time with dirty copies; returns counts and clean orders' file order."""
    src, kind, number, counts = _order_rows(rng, o)
    user_num = ppl.acc_num[o.account[src]]
    user_num[kind == 3] = _unknown_users(len(ppl.acc_num), int((kind == 3).sum()),
                                         text.salts["user"])
    amount = o.gross[src] - o.discount[src]
    variant = rng.integers(0, len(BAD_TS), len(src))
    pct = o.pct[src]
    _write_csv(out / "orders.csv", pa.table({
        "order_id": _nulls_where(_order_ids(number, text.salts["order"]), kind == 4),
        "user_id": _id_text("U", user_num, 7),
        "ts": _with_bad_ts(_ts_text(rng, o.ts[src] * 1000), kind == 2, variant),
        "amount": _money(np.where(kind == 1, -amount, amount)),
        "coupon_code": _take(pa.array([f"SAVE{p}" for p in range(101)]),
                             np.where(pct > 0, pct, -1)),
        "discount": _money(o.discount[src]),
        "pay_method": _take(pa.array(gp.PAY_METHODS), o.pay[src]),
        "channel": _take(text.profile["platform"], ppl.dev_profile[o.device[src]]),
    }))
    return {"rows": len(src), **counts, "clean": len(o.person)}, src[kind == 0]


def _bad_quantity_items(rng: np.random.Generator, o: _Orders, orders: Arr) -> Arr:
    """An item that is not in each given order (so the bad row's only defect is its quantity)."""
    item = rng.integers(0, gp.N_ITEMS, len(orders))
    clash = np.arange(len(orders))
    while clash.size:
        clash = clash[(o.items[orders[clash]] == item[clash, None]).any(axis=1)]
        item[clash] = (item[clash] + 1) % gp.N_ITEMS
    return item


def _write_order_items(rng: np.random.Generator, out: Path, o: _Orders, cat: _Catalogue,
                       written: Arr, n_order_rows: int, text: _Text) -> dict[str, int]:
    owner = np.repeat(written, o.n_items[written])
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(o.n_items[written]) - o.n_items[written],
                                             o.n_items[written])
    item, qty = o.items[owner, slot], o.qty[owner, slot]
    counts = _dirt_counts(len(owner), ITEM_DEFECTS)
    copy = rng.integers(0, len(owner), counts["unknown_order"])
    bad_orders = written[rng.integers(0, len(written), counts["bad_quantity"])]
    number = np.concatenate([owner, n_order_rows + np.arange(len(copy)), bad_orders])
    item = np.concatenate([item, item[copy], _bad_quantity_items(rng, o, bad_orders)])
    qty = np.concatenate([qty, qty[copy], -rng.integers(0, 3, len(bad_orders))])
    n_dirt = len(copy) + len(bad_orders)
    position = np.concatenate([np.arange(len(owner)), rng.random(n_dirt) * len(owner)])
    order = np.argsort(position, kind="stable")  # dirt lands at random places in the file
    number, item, qty = number[order], item[order], qty[order]
    _write_csv(out / "order_items.csv", pa.table({
        "order_id": _order_ids(number, text.salts["order"]),
        "item_id": _take(text.item_id, item),
        "quantity": pa.array(qty, pa.int64()),
        "price": _take(text.item_price, item),
        "category": _take(text.item_cat, item),
        "brand": _take(text.item_brand, item),
    }))
    return {"rows": len(number), **counts, "clean": len(owner)}


def _years_before(end: date, years: int) -> int:
    """Epoch day of `end` moved back whole years (29 February falls back to the 28th)."""
    year = end.year - years
    day = end.day if end.month != 2 or end.day < 29 else 28
    return (date(year, end.month, day) - date(1970, 1, 1)).days


def _birth_days(rng: np.random.Generator, age: Arr, end: date) -> Arr:
    """Epoch days of birth such that the age at `end` is exactly `age`."""
    anchors = np.array([_years_before(end, a) for a in range(int(age.max()) + 2)])
    span = anchors[age] - anchors[age + 1]
    return anchors[age] - (rng.random(len(age)) * span).astype(np.int64)


def _first_seen(log: _Log, o: _Orders, n_accounts: int, win: _Window) -> Arr:
    first = np.full(n_accounts, win.end_s, dtype=np.int64)
    logged = np.flatnonzero(log.acc >= 0)
    np.minimum.at(first, log.acc[logged], log.ts[logged] // 1000)
    np.minimum.at(first, o.account, o.ts)
    return first


def _write_users(rng: np.random.Generator, out: Path, ppl: _People, log: _Log, o: _Orders,
                 win: _Window, end: date, text: _Text) -> int:
    n = len(ppl.acc_num)
    person = ppl.acc_person
    back = np.where(rng.random(n) < 0.8, rng.integers(30 * DAY, 4 * 365 * DAY, n),
                    rng.integers(3600, 30 * DAY, n))  # registered before the first activity
    registered = _first_seen(log, o, n, win) - back
    birth = _birth_days(rng, ppl.age, end)[person]
    only_age = rng.random(n) < 0.10
    gender = np.where(rng.random(n) < 0.03, -1, (~ppl.female[person]).astype(np.int64))
    city = ppl.city[person]
    order = np.argsort(ppl.acc_num)
    table = pa.table({
        "user_id": text.user_id,
        "registered_at": _datetime_text(registered),
        "birth_date": _nulls_where(_datetime_text(birth * DAY, with_time=False), only_age),
        "age": _nullable_int(np.where(only_age, ppl.age[person], -1)),
        "gender": _take(pa.array(["F", "M"]), gender),
        "city": _take(pa.array([c for c, _ in gp.CITIES]), city),
        "region": _take(pa.array([r for _, r in gp.CITIES]), city),
        "occupation": _take(pa.array(gp.OCCUPATIONS), rng.integers(0, len(gp.OCCUPATIONS), n)),
        "member_level": _take(pa.array(gp.MEMBER_LEVELS),
                              _pick(rng, _col("members"), ppl.persona[person])),
        "channel": _take(pa.array(gp.CHANNELS), _choice(rng, gp.CHANNEL_P, n)),
    })
    _write_csv(out / "users.csv", table.take(pa.array(order)))
    return n


def _write_products(out: Path, cat: _Catalogue, text: _Text) -> int:
    table = pa.table({
        "item_id": text.item_id,
        "name": pa.array(cat.names),
        "category": text.item_cat,
        "brand": text.item_brand,
        "price": text.item_price,
    })
    _write_csv(out / "products.csv", table.sort_by("item_id"))
    return len(cat.names)


def _login_pairs(log: _Log, n_accounts: int) -> tuple[Arr, Arr]:
    """Distinct (device, account) pairs of people's logged-in events."""
    logged = np.flatnonzero(log.acc[: log.n_human] >= 0)
    device = log.s_device[log.sess[logged]].astype(np.int64)
    pairs = np.unique(device * n_accounts + log.acc[logged])
    return pairs // n_accounts, pairs % n_accounts


def _write_identities(rng: np.random.Generator, out: Path, ppl: _People, log: _Log,
                      text: _Text) -> int:
    """Accounts to phone hashes, and device-account logins (all for never-logged-in devices)."""
    n_acc = len(ppl.acc_num)
    acc = np.flatnonzero(ppl.has_phone[ppl.acc_person])
    device, account = _login_pairs(log, n_acc)
    kept = rng.random(len(device)) < 0.5
    silent = np.setdiff1d(np.arange(len(ppl.dev_person)), device)  # only anonymous events
    device = np.concatenate([device[kept], silent])
    account = np.concatenate([account[kept], ppl.dev_person[silent]])  # the primary account
    id_a = pa.concat_arrays([_take(text.user_id, acc), _take(text.device_id, device)])
    id_b = pa.concat_arrays([_take(text.phone, ppl.acc_person[acc]),
                             _take(text.user_id, account)])
    kinds = np.repeat([0, 1], [len(acc), len(device)])
    table = pa.table({
        "id_a": id_a,
        "id_b": id_b,
        "kind_a": _take(pa.array(["user_id", "device_id"]), kinds),
        "kind_b": _take(pa.array(["phone_hash", "user_id"]), kinds),
    })
    _write_csv(out / "identities.csv", table.take(pa.array(rng.permutation(len(kinds)))))
    return len(kinds)


# ---------------------------------------------------------------------------------------------
# truth


def _write_persons(truth: Path, ppl: _People, text: _Text) -> None:
    _write_csv(truth / "persons.csv", pa.table({
        "person_key": _id_text("P", np.arange(1, ppl.n + 1), 7),
        "persona": _take(pa.array([p.name for p in P]), ppl.persona),
        "primary_user_id": text.user_id.slice(0, ppl.n),
        "age": pa.array(ppl.age, pa.int64()),
        "gender": _take(pa.array(["F", "M"]), (~ppl.female).astype(np.int64)),
        "n_accounts": pa.array(1 + (ppl.second >= 0), pa.int64()),
        "n_devices": pa.array(ppl.n_dev, pa.int64()),
    }))


def _write_identifiers(truth: Path, ppl: _People, text: _Text) -> None:
    phones = np.flatnonzero(ppl.has_phone)
    person = np.concatenate([ppl.acc_person, ppl.dev_person, phones])
    kind = np.repeat([0, 1, 2], [len(ppl.acc_person), len(ppl.dev_person), len(phones)])
    ident = pa.concat_arrays([text.user_id, text.device_id.slice(0, len(ppl.dev_person)),
                              _take(text.phone, phones)])
    order = np.lexsort((kind, person))
    _write_csv(truth / "identifiers.csv", pa.table({
        "person_key": _id_text("P", person[order] + 1, 7),
        "kind": _take(pa.array(["user_id", "device_id", "phone_hash"]), kind[order]),
        "identifier": ident.take(pa.array(order)),
    }))


def _write_bots(truth: Path, log: _Log, bots: _Bots, n_human_devices: int,
                text: _Text) -> None:
    device = log.s_device[log.sess[log.n_human:]] - n_human_devices
    _write_csv(truth / "bots.csv", pa.table({
        "device_id": text.device_id.slice(n_human_devices),
        "user_agent": _take(text.profile["user_agent"], bots.profile),
        "kind": _take(pa.array(["user_agent", "rate"]), bots.rate.astype(np.int64)),
        "events": pa.array(np.bincount(device, minlength=len(bots.rate)), pa.int64()),
    }))


def _rule_rows(o: _Orders, cat: _Catalogue, text: _Text) -> list[dict[str, Any]]:
    """Planted rules with support, confidence and lift observed on the clean baskets."""
    n = len(o.items)
    out = []
    for (ante, cons), rule in zip(cat.planted, gp.RULES, strict=True):
        has_a, has_c = (o.items == ante).any(axis=1), (o.items == cons).any(axis=1)
        both = int((has_a & has_c).sum())
        support_c = max(int(has_c.sum()), 1) / n
        confidence = both / max(int(has_a.sum()), 1)
        out.append({
            "antecedent_item": text.item_id[ante].as_py(),
            "consequent_item": text.item_id[cons].as_py(),
            "antecedent_category": rule.category,
            "consequent_category": rule.category,
            "planted_lift": round(rule.p_add / support_c, 4),
            "observed_support": round(both / n, 6),
            "observed_confidence": round(confidence, 6),
            "observed_lift": round(confidence / support_c, 4),
        })
    return out


def _params(seed: int, users: int, persons: int, end: date, days: int,
            win: _Window) -> dict[str, Any]:
    def iso(seconds: int) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "seed": seed, "users": users, "persons": persons, "end": end.isoformat(), "days": days,
        "timezone": "UTC",
        "window_start": iso(win.start_s), "window_end": iso(win.end_s),
        "quiet_start": iso(win.quiet_s),
        "timestamps": "events.ts and orders.ts: ISO 8601 with offset (Z, +08:00, -05:00), "
                      "epoch seconds or epoch milliseconds, all the true UTC instant; "
                      "users.registered_at: 'YYYY-MM-DD HH:MM:SS' UTC; ages are at `end`",
    }


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# entry point


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


def generate_shop(out_dir: Path, *, users: int = 20_000, seed: int = 7,
                  end: date = date(2026, 10, 31), days: int = 365) -> GeneratedShop:
    """Write a deterministic synthetic shop and its exact truth/ into `out_dir`."""
    _validate(users, seed, end, days)
    started = time.perf_counter()
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shop = _simulate(rng, users, _window(end, days))
    quality = _write_sources(rng, out, shop, end)
    _write_truth(out / "truth", shop)
    _write_json(out / "truth" / "quality.json", quality)
    _write_json(out / "truth" / "params.json",
                _params(seed, users, shop.ppl.n, end, days, shop.win))
    return GeneratedShop(out, users, shop.ppl.n, quality["events"]["rows"],
                         quality["orders"]["rows"], round(time.perf_counter() - started, 3))


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
    salts = {name: int(rng.integers(1, 1 << 40))
             for name in ("user", "item", "order", "event", "session", "device", "phone")}
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


def _write_sources(rng: np.random.Generator, out: Path, shop: _Shop,
                   end: date) -> dict[str, dict[str, int]]:
    """Write the six source files; returns the quality counts of each."""
    rows = _event_rows(rng, shop.log)
    profiles = np.concatenate([shop.ppl.dev_profile, shop.bots.profile])
    _write_events(rng, out / "events.csv", shop.log, profiles, shop.text, rows)
    quality = _quality(rows, shop.log)
    del rows  # the biggest array; free it before the other files
    o, ppl, text = shop.orders, shop.ppl, shop.text
    quality["orders"], written = _write_orders(rng, out, o, ppl, text)
    quality["order_items"] = _write_order_items(rng, out, o, shop.cat, written,
                                                quality["orders"]["rows"], text)
    users = _write_users(rng, out, ppl, shop.log, o, shop.win, end, text)
    quality["users"] = {"rows": users}
    quality["products"] = {"rows": _write_products(out, shop.cat, text)}
    quality["identities"] = {"rows": _write_identities(rng, out, ppl, shop.log, text)}
    return quality


def _quality(rows: _EventRows, log: _Log) -> dict[str, dict[str, int]]:
    kinds = np.bincount(rows.kind, minlength=5)
    names = ("duplicate", "bad_timestamp", "missing_event_type", "missing_identity")
    return {"events": {
        "rows": len(rows.src), "bot": len(log.ts) - log.n_human, "clean": log.n_human,
        **{name: int(kinds[i + 1]) for i, name in enumerate(names)},
    }}


def _write_truth(truth: Path, shop: _Shop) -> None:
    ppl, text = shop.ppl, shop.text
    _write_persons(truth, ppl, text)
    _write_identifiers(truth, ppl, text)
    _write_bots(truth, shop.log, shop.bots, len(ppl.dev_person), text)
    _write_csv(truth / "rules.csv", pa.Table.from_pylist(_rule_rows(shop.orders, shop.cat, text)))
