"""Shapley values over keys, with conversion rates as the coalitions' worth.

The worth of a set of keys is the conversion rate of the paths whose distinct keys are exactly
that set (a path without keys converts at rate 0: paths exist only where there were touches); a
set no path has is worth the highest rate of the sets inside it that paths have (adding a key
never lowers the rate). Each path's rate is split among its keys by their Shapley values over
the subsets of its own set, and a key's credit is that split summed over the paths: the touched
paths' conversions add up exactly; revenue follows each set's conversions.

Exact up to `EXACT_KEYS` keys in all, through the sets' Harsanyi dividends: a key's credit is
the sum, over the sets T holding it, of T's dividend / |T| times the paths whose set holds T,
three transforms over the 2^k sets. Beyond, each path set's values are the mean marginal rates
over `samples` random orders of its keys (an unseen subset then takes the rate of the largest
seen one before it in that order).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from tagging.attribution.paths import Paths

EXACT_KEYS = 20
MASK_KEYS = 62  # key sets are int64 bit masks
SAMPLES = 2_000


def path_sets(paths: Paths) -> tuple[list[str], pd.DataFrame]:
    """The keys, and per distinct key set (`mask`: bit i for key i; `set`: the sorted key
    codes): paths, conversions, revenue."""
    steps = paths.steps
    keys = sorted(steps.key.unique())
    if len(keys) > MASK_KEYS:
        raise ValueError(f"Shapley values over {len(keys)} keys: at most {MASK_KEYS}")
    code = pd.Categorical(steps.key, categories=keys).codes.astype(np.int64)
    pairs = pd.DataFrame({"path": steps.path.to_numpy(), "bit": np.left_shift(1, code)})
    pairs = pairs.drop_duplicates()
    masks = pairs.groupby("path").bit.sum().rename("mask").reset_index()
    masks = masks.merge(paths.ends[["path", "converted", "revenue"]], on="path")
    grouped = masks.groupby("mask").agg(
        paths=("path", "size"), conversions=("converted", "sum"), revenue=("revenue", "sum")
    )
    grouped = grouped.reset_index()
    grouped["set"] = [
        tuple(i for i in range(len(keys)) if int(mask) >> i & 1) for mask in grouped["mask"]
    ]
    return keys, grouped


def shapley_credit(paths: Paths, *, samples: int = SAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per key: conversions and revenue credited by Shapley values (columns key, conversions,
    revenue, share)."""
    keys, sets = path_sets(paths)
    if len(keys) <= EXACT_KEYS:
        conversions, revenue = _exact(len(keys), sets)
    else:
        conversions, revenue = _sampled(len(keys), sets, samples, np.random.default_rng(seed))
    total = conversions.sum()
    share = conversions / total if total > 0 else np.zeros_like(conversions)
    return pd.DataFrame(
        {"key": keys, "conversions": conversions, "revenue": revenue, "share": share}
    )


def _exact(k: int, sets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    size = 1 << k
    masks = sets["mask"].to_numpy(dtype=np.int64)
    rate = (sets.conversions / sets.paths).to_numpy(dtype=float)
    best = np.full(size, -np.inf)
    best[0] = 0.0
    best[masks] = rate
    for has, lacks in _halves(best, k):  # the highest seen rate inside each set
        np.maximum(has, lacks, out=has)
    worth = best
    worth[masks] = rate  # a seen set is worth its own rate
    dividend = worth
    for has, lacks in _halves(dividend, k):  # Möbius transform: worth -> Harsanyi dividends
        has -= lacks
    paths = np.zeros(size)
    np.add.at(paths, masks, sets.paths.to_numpy(dtype=float))
    per_rate = np.zeros(size)
    money = sets.revenue.to_numpy(dtype=float) / np.where(rate > 0, rate, np.inf)
    np.add.at(per_rate, masks, money)
    for table in (paths, per_rate):  # superset sums: the paths whose set holds each set
        for has, lacks in _halves(table, k):
            lacks += has
    members = np.bitwise_count(np.arange(size)).astype(float)
    members[0] = 1.0
    share = dividend / members
    won, earned = share * paths, share * per_rate
    conversions = np.array([_holding(won, bit) for bit in range(k)])
    revenue = np.array([_holding(earned, bit) for bit in range(k)])
    return conversions, revenue


def _halves(table: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each key, views of the sets holding it and of the same sets without it."""
    for bit in range(k):
        pairs = table.reshape(-1, 2, 1 << bit)
        yield pairs[:, 1, :], pairs[:, 0, :]


def _holding(table: np.ndarray, bit: int) -> float:
    """The sum of `table` over the sets holding key `bit`."""
    return float(table.reshape(-1, 2, 1 << bit)[:, 1, :].sum())


def _sampled(
    k: int, sets: pd.DataFrame, samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    masks = sets["mask"].to_numpy(dtype=np.int64)
    rates = (sets.conversions / sets.paths).to_numpy(dtype=float)
    order = np.argsort(masks)
    seen, seen_rate = masks[order], rates[order]
    conversions, revenue = np.zeros(k), np.zeros(k)
    for members, n, money, rate in zip(sets.set, sets.paths, sets.revenue, rates, strict=True):
        values = _sampled_values(np.array(members), seen, seen_rate, rate, samples, rng)
        conversions[list(members)] += n * values
        if rate > 0:
            revenue[list(members)] += money * values / rate
    return conversions, revenue


def _sampled_values(
    members: np.ndarray,
    seen: np.ndarray,
    seen_rate: np.ndarray,
    rate: float,
    samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mean marginal rates of `members` over `samples` random orders of them, all at once."""
    m = len(members)
    orders = np.argsort(rng.random((samples, m)), axis=1)
    bits = np.left_shift(np.int64(1), members)[orders]
    prefixes = np.bitwise_or.accumulate(bits, axis=1)
    at = np.clip(np.searchsorted(seen, prefixes), 0, len(seen) - 1)
    worth = np.where(seen[at] == prefixes, seen_rate[at], 0.0)
    worth = np.maximum.accumulate(worth, axis=1)  # an unseen prefix: the best before it
    gains = np.diff(worth, axis=1, prepend=0.0)
    values = np.zeros(m)
    np.add.at(values, orders.ravel(), gains.ravel())
    values /= samples
    # The last prefix is the whole set, whose rate is seen: keep the values summing to it.
    total = values.sum()
    return values * rate / total if total > 0 else values
