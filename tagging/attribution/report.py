"""Every model's credit side by side, per channel or campaign, with cost and ROI.

`attribute` is what a run stores and what the API recomputes for an audience: one row per key
and model with the credited conversions and revenue, the key's cost (summed over its touches,
holdouts excluded) and ROI = (revenue - cost) / cost where cost is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tagging.attribution.holdout import holdout_lifts
from tagging.attribution.markov import markov_credit
from tagging.attribution.paths import Level, P, Paths, contacts, conversion_paths
from tagging.attribution.rules import HALF_LIFE_DAYS, RULE_MODELS, rule_credit
from tagging.attribution.shapley import shapley_credit

MODELS = (*RULE_MODELS, "markov", "shapley")
WINDOW_DAYS = 30.0


@dataclass(frozen=True)
class AttributionParams:
    window_days: float = WINDOW_DAYS
    half_life_days: float = HALF_LIFE_DAYS

    def as_dict(self) -> dict[str, float]:
        return {"window_days": self.window_days, "half_life_days": self.half_life_days}


def credit(paths: Paths, model: str, params: AttributionParams) -> pd.DataFrame:
    """Per key: conversions and revenue credited by `model`."""
    if model == "markov":
        return markov_credit(paths)[["key", "conversions", "revenue"]]
    if model == "shapley":
        return shapley_credit(paths)[["key", "conversions", "revenue"]]
    if model in RULE_MODELS:
        return rule_credit(paths, model, half_life_days=params.half_life_days)
    raise ValueError(f"unknown attribution model {model!r}; known: {', '.join(MODELS)}")


def attribute(
    touches: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    level: Level,
    params: AttributionParams = AttributionParams(),
    models: tuple[str, ...] = MODELS,
    paths: Paths | None = None,
) -> pd.DataFrame:
    """Columns: model, key, conversions, revenue, cost (NaN without costs), roi, persons
    (touched), converters (persons with a converting path through the key). `paths`: the
    touches' and orders' paths at `level`, when already cut."""
    if paths is None:
        paths = conversion_paths(touches, orders, window_days=params.window_days, level=level)
    keyed = contacts(touches, level)
    reach = keyed.groupby("key").agg(persons=(P, "nunique"))
    cost = keyed.groupby("key").cost.sum(min_count=1).rename("cost")
    won = paths.steps.merge(paths.ends[paths.ends.converted][["path", P]], on="path")
    converters = won.groupby("key")[P].nunique().rename("converters")
    frames = [credit(paths, model, params).assign(model=model) for model in models]
    table = pd.concat(frames, ignore_index=True).merge(reach, on="key", how="left")
    table = table.merge(cost, on="key", how="left").merge(converters, on="key", how="left")
    table["converters"] = table.converters.fillna(0).astype(np.int64)
    table["roi"] = (table.revenue - table.cost) / table.cost.where(table.cost > 0)
    columns = ["model", "key", "conversions", "revenue", "cost", "roi", "persons", "converters"]
    return table[columns].sort_values(["model", "key"], kind="stable").reset_index(drop=True)


def summary(paths: Paths) -> dict[str, float]:
    """Paths, conversions and the share of conversions with no touch (no model credits them)."""
    ends = paths.ends
    touched = paths.touched
    conversions = int(ends.converted.sum())
    return {
        "paths": len(touched),
        "converting_paths": int(touched.converted.sum()),
        "conversions": conversions,
        "untouched_conversions": conversions - int(touched.converted.sum()),
    }


__all__ = ["MODELS", "AttributionParams", "attribute", "holdout_lifts", "summary"]
