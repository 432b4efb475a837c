"""One attribution question (model, level, window, an audience's persons) answered from a
run's kept touches and orders, or from its stored report when that already holds it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from store.errors import InputError
from tagging.attribution.holdout import holdout_lifts
from tagging.attribution.paths import Level, P, conversion_paths
from tagging.attribution.report import MODELS, AttributionParams, attribute, summary


@dataclass(frozen=True)
class Answer:
    model: str
    level: Level
    window_days: float
    rows: pd.DataFrame  # attribute()'s columns for the one model
    holdouts: pd.DataFrame  # holdout_lifts()'s columns and `credited` (the model's, by campaign)
    summary: dict[str, float]


def check_question(model: str, window_days: float) -> None:
    if model not in MODELS:
        raise InputError(f"unknown attribution model {model!r}; known: {', '.join(MODELS)}")
    if not 0 < window_days <= 365:
        raise InputError(f"window must be 1-365 days, got {window_days!r}")


def from_report(report: dict[str, Any], *, model: str, level: Level) -> Answer | None:
    """The answer the run stored (all persons, the run's window), or None when it has none."""
    if "levels" not in report:
        return None
    rows = pd.DataFrame(report["levels"][level]["rows"])
    campaigns = pd.DataFrame(report["levels"]["campaign"]["rows"])
    return _answer(
        model,
        level,
        float(report["params"]["window_days"]),
        rows,
        pd.DataFrame(report["holdouts"]),
        campaigns,
        report["levels"][level]["summary"],
    )


def compute(
    touches: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    model: str,
    level: Level,
    params: AttributionParams,
    persons: np.ndarray | None = None,
) -> Answer:
    """The answer over the touches and orders of `persons` (None: everyone)."""
    check_question(model, params.window_days)
    if persons is not None:
        touches = touches[touches[P].isin(persons)]
        orders = orders[orders[P].isin(persons)]
    paths = conversion_paths(touches, orders, window_days=params.window_days, level=level)
    rows = attribute(touches, orders, level=level, params=params, models=(model,), paths=paths)
    campaigns = (
        rows
        if level == "campaign"
        else attribute(touches, orders, level="campaign", params=params, models=(model,))
    )
    lifts = holdout_lifts(touches, orders, window_days=params.window_days)
    return _answer(model, level, params.window_days, rows, lifts, campaigns, summary(paths))


def _answer(
    model: str,
    level: Level,
    window_days: float,
    rows: pd.DataFrame,
    lifts: pd.DataFrame,
    campaigns: pd.DataFrame,
    found: dict[str, float],
) -> Answer:
    mine = rows[rows.model == model] if len(rows) else rows
    credited = (
        campaigns[campaigns.model == model].set_index("key").conversions
        if len(campaigns)
        else pd.Series(dtype=float)
    )
    if len(lifts):
        lifts = lifts.assign(credited=lifts.campaign.map(credited).fillna(0.0))
    mine = mine.sort_values("conversions", ascending=False, kind="stable") if len(mine) else mine
    return Answer(model, level, window_days, mine.reset_index(drop=True), lifts, found)
