"""The rule-based models: how each converting path's one conversion is split among its steps.

last_touch       all of it to the last step
first_touch      all of it to the first step
linear           equal parts to every step
time_decay       parts halving every `half_life_days` before the order
position_based   40% first, 40% last, 20% shared by the steps between (one step: all;
                 two: half each)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tagging.attribution.paths import Paths

RULE_MODELS = ("last_touch", "first_touch", "linear", "time_decay", "position_based")
HALF_LIFE_DAYS = 7.0


def step_weights(
    steps: pd.DataFrame, model: str, *, half_life_days: float = HALF_LIFE_DAYS
) -> np.ndarray:
    """Each step's share of its path's conversion under `model` (a path's shares sum to 1)."""
    n = steps.groupby("path").position.transform("size").to_numpy()
    position = steps.position.to_numpy()
    last = position == n - 1
    if model == "last_touch":
        return last.astype(float)
    if model == "first_touch":
        return (position == 0).astype(float)
    if model == "linear":
        return 1.0 / n
    if model == "time_decay":
        if half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days!r}")
        raw = np.exp2(-steps.days_before.to_numpy() / half_life_days)
        return raw / steps.assign(_w=raw).groupby("path")._w.transform("sum").to_numpy()
    if model == "position_based":
        ends = np.where((position == 0) | last, 0.4, 0.2 / np.maximum(n - 2, 1))
        return np.select([n == 1, n == 2], [1.0, 0.5], ends)
    raise ValueError(f"unknown rule-based model {model!r}; known: {', '.join(RULE_MODELS)}")


def rule_credit(
    paths: Paths, model: str, *, half_life_days: float = HALF_LIFE_DAYS
) -> pd.DataFrame:
    """Per key: conversions and revenue credited by `model` (columns key, conversions, revenue)."""
    ends = paths.ends[paths.ends.converted][["path", "revenue"]]
    steps = paths.steps.merge(ends, on="path")
    weight = step_weights(steps, model, half_life_days=half_life_days)
    credited = steps.assign(conversions=weight, revenue=weight * steps.revenue)
    return credited.groupby("key", as_index=False)[["conversions", "revenue"]].sum()
