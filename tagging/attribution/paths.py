"""Conversion paths: each order with the touches of the `window` before it, and the touches
that led to no order.

A touch belongs to the person's first order at or after it, when that order comes within the
window; so a path ends at an order and the next path starts after it. Touches no order claims
form paths that end in nothing: one per person and window-long stretch (a new one starts when a
touch comes more than `window` after the stretch's first). Orders without touches are paths of
their own with no steps: conversions no channel can claim.

Frames:
    touches   person_idx, ts (datetime64), channel, campaign (may be null), kind, cost
    orders    person_idx, ts, amount
    Paths.steps   path, key, ts, days_before (to the path's end), position (0-based)
    Paths.ends    path, person_idx, converted (bool), revenue, ts
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

P = "person_idx"
Level = Literal["channel", "campaign"]
LEVELS: tuple[Level, ...] = ("channel", "campaign")
# Kinds that are no contact: a holdout is in the campaign, not contacted.
NOT_CONTACT = ("holdout",)


@dataclass(frozen=True)
class Paths:
    steps: pd.DataFrame
    ends: pd.DataFrame

    @property
    def touched(self) -> pd.DataFrame:
        """The ends of paths with at least one step."""
        return self.ends[self.ends.path.isin(self.steps.path)]


def contacts(touches: pd.DataFrame, level: Level) -> pd.DataFrame:
    """The touches that are contacts, keyed by `level` (touches without a campaign are left
    out at campaign level)."""
    kept = touches[~touches.kind.isin(NOT_CONTACT)]
    if level == "campaign":
        kept = kept[kept.campaign.notna()]
    return kept.assign(key=kept[level].astype(str))


def conversion_paths(
    touches: pd.DataFrame, orders: pd.DataFrame, *, window_days: float, level: Level
) -> Paths:
    """Every order's path and the paths that ended in nothing (see the module docstring)."""
    if window_days <= 0:
        raise ValueError(f"window must be a positive number of days, got {window_days!r}")
    window = pd.Timedelta(seconds=int(window_days * 86_400))
    t = _typed(contacts(touches, level)[[P, "ts", "key"]])
    o = _typed(orders[[P, "ts", "amount"]]).reset_index(drop=True)
    o = o.assign(order=np.arange(len(o)), order_ts=o.ts)
    claimed = pd.merge_asof(
        t, o[["ts", P, "order", "order_ts"]], on="ts", by=P, direction="forward"
    )
    in_window = claimed.order.notna() & (claimed.order_ts - claimed.ts <= window)
    converting = claimed[in_window].assign(path=lambda f: f.order.astype(np.int64))
    converting = converting.assign(end=converting.order_ts)
    lost = _lost_paths(claimed[~in_window], window, first_path=len(o))
    steps = pd.concat(
        [converting[["path", "key", "ts", "end"]], lost[["path", "key", "ts", "end"]]]
    )
    steps = steps.sort_values(["path", "ts"], kind="stable").reset_index(drop=True)
    steps["days_before"] = (steps.end - steps.ts).dt.total_seconds() / 86_400
    steps["position"] = steps.groupby("path").cumcount()
    ends = pd.concat(
        [
            pd.DataFrame(
                {"path": o.order, P: o[P], "converted": True, "revenue": o.amount, "ts": o.ts}
            ),
            lost.groupby("path", as_index=False)
            .agg(**{P: (P, "first"), "ts": ("end", "first")})
            .assign(converted=False, revenue=0.0),
        ],
        ignore_index=True,
    )
    return Paths(steps.drop(columns="end"), ends)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted by time, with one timestamp and person type on both sides (merge_asof needs it)."""
    typed = frame.astype({P: np.int64, "ts": "datetime64[us]"})
    return typed.sort_values("ts", kind="stable")


def _lost_paths(t: pd.DataFrame, window: pd.Timedelta, first_path: int) -> pd.DataFrame:
    """Touches no order claims, cut per person into window-long stretches, numbered from
    `first_path`; `end` is each stretch's last touch."""
    if t.empty:
        return t.assign(path=pd.Series(dtype=np.int64), end=t.ts)
    first = t.groupby(P).ts.transform("min")
    stretch = ((t.ts - first).dt.total_seconds() // window.total_seconds()).astype(np.int64)
    path = first_path + t.groupby([P, stretch], sort=True).ngroup().to_numpy()
    t = t.assign(path=path)
    return t.assign(end=t.groupby("path").ts.transform("max"))
