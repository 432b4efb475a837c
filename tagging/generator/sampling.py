"""Shared ground of the generator's stages: the time window, persona tables and vectorised draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tagging.generator import personas as gp

Arr = npt.NDArray[Any]
DAY = 86_400
QUIET_DAYS = 200  # lapsed persons have no order in these last days
PERSONAS = gp.PERSONAS
N_CAT = len(gp.CATEGORIES)
CAT_P = np.array([[dict(p.categories).get(c.name, 0.0) for c in gp.CATEGORIES] for p in PERSONAS])
TIER = np.array([("any", "cheap", "brand").index(p.tier) for p in PERSONAS])
LAPSED = np.array([p.lapsed for p in PERSONAS])
ORDER_HOUR = np.array([p.order_hour for p in PERSONAS])
ORDER_SPAN = np.array([p.order_hours * 3600 for p in PERSONAS])


def persona_column(name: str) -> Arr:
    """A persona attribute as an array indexed by persona code (rows for tuple attributes)."""
    return np.array([getattr(p, name) for p in PERSONAS], dtype=float)


@dataclass(frozen=True)
class Window:
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


def pick_by_row(rng: np.random.Generator, table: Arr, rows: Arr) -> Arr:
    """One column index per entry of `rows`, drawn from that row of the weight table."""
    table = np.atleast_2d(np.asarray(table, dtype=float))
    k, m = table.shape
    cum = np.cumsum(table / table.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(k)[:, None]).ravel()
    rows = np.asarray(rows, dtype=np.int64)
    pos = np.searchsorted(flat, rows + rng.random(len(rows)), side="right")
    return np.minimum(pos - rows * m, m - 1)


def draw_index(rng: np.random.Generator, weights: Any, n: int) -> Arr:
    """n draws of an index from one weight vector."""
    return pick_by_row(rng, np.asarray(weights, dtype=float), np.zeros(n, dtype=np.int64))


def uniform_int(rng: np.random.Generator, lo: Arr, hi: Arr) -> Arr:
    """Integers uniform in [lo, hi] (inclusive, element-wise)."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def mix(x: Arr, bits: int) -> Arr:
    """A bijection of [0, 2**bits): odd multiplies and xor-shifts, wrapping in uint64."""
    mask = np.uint64((1 << bits) - 1)
    for mult, shift in ((0x9E3779B97F4A7C15, bits // 2), (0xBF58476D1CE4E5B9, bits // 3 + 1)):
        x = (x * np.uint64(mult)) & mask
        x ^= x >> np.uint64(shift)
    return x


def permute(k: Arr, modulus: int, salt: int) -> Arr:
    """A salted bijection of [0, modulus) (cycle walking), so ids look random yet never clash."""
    bits = max(int(modulus - 1).bit_length(), 8)
    mask = np.uint64((1 << bits) - 1)
    y = np.asarray(k).astype(np.uint64)
    todo = np.arange(len(y))
    while todo.size:
        y[todo] = mix((y[todo] + np.uint64(salt)) & mask, bits)
        todo = todo[y[todo] >= modulus]
    return y.astype(np.int64)


def ips(rng: np.random.Generator, n: int, nets: tuple[int, ...]) -> Arr:
    """Random IPv4 addresses (as integers) whose first octet is one of `nets`."""
    first = np.asarray(nets, dtype=np.int64)[rng.integers(0, len(nets), n)]
    return (first << 24) + (rng.integers(0, 1 << 16, n) << 8) + rng.integers(1, 255, n)


def group_bounds(sorted_keys: Arr, n_groups: int) -> tuple[Arr, Arr]:
    """First and last position of each group in an array sorted by group."""
    groups = np.arange(n_groups)
    first = np.searchsorted(sorted_keys, groups, side="left")
    return first, np.searchsorted(sorted_keys, groups, side="right") - 1
