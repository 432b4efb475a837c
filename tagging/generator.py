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
- Money is computed in integer cents and written with two decimals.
- Dirt is only ever extra rows: drop them and what is left is exactly the planted truth.

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
import time
from dataclasses import dataclass
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
P_VIEW_LINE, P_CART_LINE = 0.5, 0.4  # per order line, in its purchase session
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


def _string_array(buf: Arr, lengths: Arr | None = None) -> pa.Array:
    """Rows of a byte buffer as a string array; row i keeps its first lengths[i] bytes."""
    n, w = buf.shape
    if lengths is None:
        data = np.ascontiguousarray(buf).ravel()
        offsets = np.arange(n + 1, dtype=np.int32) * np.int32(w)
    else:
        data = buf[np.arange(w)[None, :] < lengths[:, None]]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.astype(np.uint8))]
    )


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


def _money(cents: Arr, valid: Arr | None = None) -> pa.Array:
    """Integer cents as decimal128(14, 2): written with exactly two decimals."""
    lo = np.asarray(cents, dtype=np.int64)
    data = np.stack([lo, np.where(lo < 0, -1, 0)], axis=1).ravel()
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.decimal128(14, 2), len(lo), [bitmap, pa.py_buffer(data)])


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
    premium_brands: list[Arr]  # per category: brands favoured by brand-loyal persons
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


def _make_brands(rng: np.random.Generator) -> tuple[list[str], Arr, Arr]:
    per_cat = rng.integers(5, 16, N_CAT)
    combos = [f"{h}_{t}" for h in gp.BRAND_HEADS for t in gp.BRAND_TAILS]
    chosen = rng.choice(len(combos), int(per_cat.sum()), replace=False)
    brand_cat = np.repeat(np.arange(N_CAT), per_cat)
    return [combos[i] for i in chosen], brand_cat, rng.uniform(0.6, 2.2, len(brand_cat))


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
    brand_names, brand_cat, mult = _make_brands(rng)
    cat, brand, price, weight = _make_items(rng, brand_cat, mult)
    planted = _plant_items(rng, cat, brand, price, weight, brand_cat)
    names = _item_names(rng, cat, brand, brand_names, planted)
    groups = _sampling_groups(cat, brand, price, len(brand_names))
    cum = [g + np.cumsum(weight[items]) / weight[items].sum() for g, items in enumerate(groups)]
    sizes = np.array([len(g) for g in groups])
    first = np.cumsum(sizes) - sizes
    premium = [np.flatnonzero((brand_cat == c) & (mult >= np.median(mult[brand_cat == c])))
               for c in range(N_CAT)]
    queries, q_first, q_count = _queries()
    return _Catalogue(
        cat, brand, price, weight, names, brand_names, brand_cat, premium, planted,
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
    stays = rng.random(len(loyal)) < 0.92
    group[loyal] = np.where(stays, 2 * N_CAT + favourite, cat.brand_cat[favourite])
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
        options = cat.premium_brands[c]
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
