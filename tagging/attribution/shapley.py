"""Shapley values over keys, with conversion rates as the coalitions' worth.

The worth of a set of keys is the conversion rate of the paths whose distinct keys are exactly
that set (a path without keys converts at rate 0: paths exist only where there were touches). A
set no path has is worth the most of its subsets one key smaller (adding a key never lowers the
rate). Each path's rate is split among its keys by their Shapley values over the subsets of its
own set, and a key's credit is that split summed over the paths: the touched paths'
conversions add up exactly; revenue follows each set's conversions. Exact while a path holds
up to `EXACT_KEYS` distinct keys; beyond, each set's values are the mean marginal rates over
`samples` random orders of its keys (an unseen subset then takes the rate of the largest seen
one before it in that order).
"""

from __future__ import annotations

from math import factorial

import numpy as np
import pandas as pd

from tagging.attribution.paths import Paths

EXACT_KEYS = 12
SAMPLES = 2_000
Rates = dict[tuple[int, ...], float]


def path_sets(paths: Paths) -> tuple[list[str], pd.DataFrame]:
    """The keys, and per distinct key set (a sorted tuple of key codes): paths, conversions,
    revenue."""
    steps = paths.steps
    keys = sorted(steps.key.unique())
    code = pd.Categorical(steps.key, categories=keys).codes
    pairs = pd.DataFrame({"path": steps.path.to_numpy(), "code": code}).drop_duplicates()
    pairs = pairs.sort_values(["path", "code"], kind="stable")
    sets = pairs.groupby("path").code.agg(tuple).rename("set").reset_index()
    sets = sets.merge(paths.ends[["path", "converted", "revenue"]], on="path")
    grouped = sets.groupby("set").agg(
        paths=("path", "size"), conversions=("converted", "sum"), revenue=("revenue", "sum")
    )
    return keys, grouped.reset_index()


def shapley_credit(paths: Paths, *, samples: int = SAMPLES, seed: int = 0) -> pd.DataFrame:
    """Per key: conversions and revenue credited by Shapley values (columns key, conversions,
    revenue, share)."""
    keys, sets = path_sets(paths)
    rates: Rates = dict(zip(sets.set, sets.conversions / sets.paths, strict=True))
    conversions = np.zeros(len(keys))
    revenue = np.zeros(len(keys))
    rng = np.random.default_rng(seed)
    for members, n, money in sets[["set", "paths", "revenue"]].itertuples(index=False):
        values = (
            _exact(members, rates)
            if len(members) <= EXACT_KEYS
            else _sampled(members, rates, samples, rng)
        )
        idx = list(members)
        conversions[idx] += n * values
        rate = rates[members]
        if rate > 0:
            revenue[idx] += money * values / rate
    total = conversions.sum()
    share = conversions / total if total > 0 else np.zeros_like(conversions)
    return pd.DataFrame(
        {"key": keys, "conversions": conversions, "revenue": revenue, "share": share}
    )


def _exact(members: tuple[int, ...], rates: Rates) -> np.ndarray:
    """Shapley values of `members` over their subsets' rates (the subsets' lattice filled)."""
    m = len(members)
    masks = np.arange(1 << m)
    sizes = np.array([bin(mask).count("1") for mask in range(1 << m)])
    worth = np.array(
        [
            rates.get(tuple(x for i, x in enumerate(members) if mask >> i & 1), np.nan)
            for mask in masks
        ]
    )
    worth[0] = 0.0
    for size in range(1, m + 1):
        at = masks[(sizes == size) & np.isnan(worth)]
        for mask in at:
            worth[mask] = max(worth[mask ^ (1 << i)] for i in range(m) if mask >> i & 1)
    weight = np.array([factorial(s) * factorial(m - s - 1) / factorial(m) for s in range(m)])
    values = np.zeros(m)
    for i in range(m):
        without = masks[(masks >> i & 1) == 0]
        values[i] = (weight[sizes[without]] * (worth[without | 1 << i] - worth[without])).sum()
    return values


def _sampled(
    members: tuple[int, ...], rates: Rates, samples: int, rng: np.random.Generator
) -> np.ndarray:
    m = len(members)
    values = np.zeros(m)
    for _ in range(samples):
        order = rng.permutation(m)
        chosen: list[int] = []
        before = 0.0
        for i in order:
            chosen.append(members[i])
            now = max(rates.get(tuple(sorted(chosen)), before), before)
            values[i] += now - before
            before = now
    values /= samples
    # The last prefix is the whole set, whose rate is seen: keep the values summing to it.
    return values * rates[members] / values.sum() if values.sum() > 0 else values
