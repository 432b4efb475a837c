"""Markov chain attribution: the removal effect of each key in a first-order chain.

The paths (converting and not) give transition counts start -> key -> ... -> conversion or
null. The chain's probability of reaching conversion from start is the baseline; a key's removal
effect is how much of it is lost when every transition into the key goes to null instead. The
touched paths' conversions and revenue are shared out in proportion to the removal effects.
Repeated steps of one key are one state visit (a self-loop changes no absorption probability).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tagging.attribution.paths import Paths


def transitions(paths: Paths) -> tuple[list[str], np.ndarray]:
    """The keys and the transition counts between the states start (row 0), the keys
    (1..k), conversion (k+1) and null (k+2)."""
    steps = paths.steps
    keys = sorted(steps.key.unique())
    k = len(keys)
    code = pd.Categorical(steps.key, categories=keys).codes.astype(np.int64) + 1
    path = steps.path.to_numpy()
    # Consecutive repeats of a key collapse into one visit.
    keep = np.ones(len(code), dtype=bool)
    keep[1:] = (path[1:] != path[:-1]) | (code[1:] != code[:-1])
    code, path = code[keep], path[keep]
    first = np.ones(len(code), dtype=bool)
    first[1:] = path[1:] != path[:-1]
    last = np.ones(len(code), dtype=bool)
    last[:-1] = path[1:] != path[:-1]
    converted = paths.ends.set_index("path").converted.reindex(path[last]).to_numpy()
    counts = np.zeros((k + 3, k + 3))
    np.add.at(counts, (np.zeros(first.sum(), dtype=np.int64), code[first]), 1)
    inner = np.flatnonzero(~last)
    np.add.at(counts, (code[inner], code[inner + 1]), 1)
    np.add.at(counts, (code[last], np.where(converted, k + 1, k + 2)), 1)
    return keys, counts


def conversion_probability(counts: np.ndarray, removed: int | None = None) -> float:
    """The chain's probability of reaching conversion from start (`removed`: a key's state
    whose incoming transitions go to null)."""
    k = counts.shape[0] - 3
    p = counts.copy()
    if removed is not None:
        p[:, k + 2] += p[:, removed]
        p[:, removed] = 0.0
    totals = p.sum(axis=1, keepdims=True)
    p = np.divide(p, totals, out=np.zeros_like(p), where=totals > 0)
    transient = p[: k + 1, : k + 1]
    to_conversion = p[: k + 1, k + 1]
    absorbed = np.linalg.solve(np.eye(k + 1) - transient, to_conversion)
    return float(absorbed[0])


def removal_effects(paths: Paths) -> pd.DataFrame:
    """Per key: removal_effect and share (the removal effects scaled to sum to 1)."""
    keys, counts = transitions(paths)
    if not keys:
        return pd.DataFrame({"key": [], "removal_effect": [], "share": []})
    base = conversion_probability(counts)
    effects = np.array(
        [
            1.0 - conversion_probability(counts, removed=i + 1) / base if base > 0 else 0.0
            for i in range(len(keys))
        ]
    )
    total = effects.sum()
    share = effects / total if total > 0 else np.zeros_like(effects)
    return pd.DataFrame({"key": keys, "removal_effect": effects, "share": share})


def markov_credit(paths: Paths) -> pd.DataFrame:
    """Per key: conversions and revenue of the touched paths, shared by removal effect."""
    effects = removal_effects(paths)
    touched = paths.touched
    won = touched[touched.converted]
    return effects.assign(
        conversions=effects.share * len(won), revenue=effects.share * won.revenue.sum()
    )[["key", "conversions", "revenue", "share"]]
