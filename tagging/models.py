"""Predictive tags: churn_risk and repurchase_30d, trained inside the run's own data.

Each model is trained on a time split: features as of `as_of - horizon`, computed exactly as
the run computes them as of `as_of` (only orders and events up to that cutoff), and the label
from the horizon that follows (did the buyer order again?). A quarter of those buyers is held
out; the run records the model's held-out ROC AUC beside the AUC of plain recency, so users
can see the model earns its place. The model is then fitted on every buyer of the cutoff and
scores every buyer as of `as_of`. Orders alone are enough; events add browsing features.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tagging import features
from tagging.identity import PERSON as P
from tagging.identity import USER_ID

ORDER_COLUMNS = [
    "frequency",
    "monetary",
    "recency_days",
    "first_order_days",
    "aov",
    "orders_30d",
    "last_gap_days",
    "discount_order_share",
    "coupon_order_share",
    "weekend_order_share",
]
EVENT_COLUMNS = ["events_30d", "carts_30d", "days_since_last_event"]
MIN_BUYERS = 50  # fewer buyers at the cutoff, or one class only: no model, a note instead


@dataclass(frozen=True)
class ModelParams:
    churn_horizon_days: int = 90  # churn: no order in this many days after the cutoff
    repurchase_horizon_days: int = 30
    holdout_share: float = 0.25
    seed: int = 7

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def predict(
    orders: ir.Table, events: ir.Table | None, *, as_of: datetime, params: ModelParams
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Scores of every buyer as of `as_of` (person_idx, churn_risk, repurchase_30d) and the
    report of each model (held-out AUC, recency baseline AUC, sizes, or why there is none)."""
    return fit_and_score(training_data(orders, events, as_of=as_of, params=params), params)


@dataclass(frozen=True)
class TrainingData:
    """What the models learn from and score, read from the run's tables: no query is left."""

    now: pd.DataFrame  # the features of every buyer as of as_of, to score
    # key -> (horizon days, churn model?, features at the cutoff with `ordered` after it)
    models: dict[str, tuple[int, bool, pd.DataFrame]]


def training_data(
    orders: ir.Table, events: ir.Table | None, *, as_of: datetime, params: ModelParams
) -> TrainingData:
    """The feature frames of both models: the queries of `predict`, apart from its fitting (which
    then needs no connection and can run in another thread)."""
    horizons = {
        "churn_risk": (params.churn_horizon_days, True),
        "repurchase_30d": (params.repurchase_horizon_days, False),
    }
    cutoffs = {key: as_of - timedelta(days=days) for key, (days, _churn) in horizons.items()}
    browsing = _browsing(events, {**cutoffs, "now": as_of})
    trained: dict[str, tuple[int, bool, pd.DataFrame]] = {}
    for key, (horizon, churn) in horizons.items():
        past = _features(orders, browsing, key, cutoffs[key])
        label = _ordered_within(orders, cutoffs[key], horizon)
        trained[key] = (horizon, churn, past.merge(label, on=P, how="left"))
    return TrainingData(now=_features(orders, browsing, "now", as_of), models=trained)


def fit_and_score(data: TrainingData, params: ModelParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit each model on its cutoff's buyers and score every buyer of `data.now`."""
    now = data.now
    scores = pd.DataFrame({P: now[P].to_numpy()})
    report: dict[str, Any] = {}
    for key, (horizon, churn, train) in data.models.items():
        ordered = train["ordered"].notna().to_numpy()
        y = ~ordered if churn else ordered
        model, report[key] = _fit(train, y, churn=churn, horizon=horizon, params=params)
        if model is not None and len(now):
            scores[key] = model.predict_proba(_matrix(now))[:, 1]
    return scores, report


def summary(report: dict[str, Any]) -> str:
    """One line on the fitted models, for a run's progress: each one's AUC and its baseline's."""
    return ", ".join(
        f"{key} AUC {r['auc']} (recency {r['baseline_auc']})" if "auc" in r else f"{key}: none"
        for key, r in report.items()
    )


def _features(
    orders: ir.Table, browsing: pd.DataFrame | None, name: str, cutoff: datetime
) -> pd.DataFrame:
    """The model's features of every buyer as of `cutoff` (`name` in `_browsing`), from what
    happened up to it."""
    before = orders.filter(orders.ts <= cutoff)
    f = features.order_features(before, as_of=cutoff).select(P, *ORDER_COLUMNS)
    frame = f.order_by(P).to_pyarrow().to_pandas()
    if browsing is None:
        return frame.assign(**{column: np.nan for column in EVENT_COLUMNS})
    columns = {f"{column}_{name}": column for column in EVENT_COLUMNS}
    seen = browsing[[P, *columns]].rename(columns=columns)
    return frame.merge(seen, on=P, how="left")


def _browsing(events: ir.Table | None, cutoffs: dict[str, datetime]) -> pd.DataFrame | None:
    """EVENT_COLUMNS of every person at each cutoff (columns `<feature>_<name>`), in one pass
    over the events instead of one per cutoff; a person with no event up to a cutoff has
    none of its values."""
    if events is None:
        return None
    values: dict[str, ir.Value] = {}
    for name, cutoff in cutoffs.items():
        seen = events.ts <= cutoff
        days = features.days_before(cutoff, events.ts)
        recent = days < 30
        values[f"events_30d_{name}"] = recent.sum(where=seen)
        values[f"carts_30d_{name}"] = (recent & (events.event_type == "add_to_cart")).sum(
            where=seen
        )
        values[f"days_since_last_event_{name}"] = days.min(where=seen)
    return events.group_by(P).aggregate(**values).to_pyarrow().to_pandas()


def _ordered_within(orders: ir.Table, cutoff: datetime, days: int) -> pd.DataFrame:
    after = orders.filter((orders.ts > cutoff) & (orders.ts <= cutoff + timedelta(days=days)))
    return after.select(P).distinct().mutate(ordered=True).to_pyarrow().to_pandas()


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame[ORDER_COLUMNS + EVENT_COLUMNS].to_numpy(dtype=np.float64, na_value=np.nan)


def _fit(
    train: pd.DataFrame, y: np.ndarray, *, churn: bool, horizon: int, params: ModelParams
) -> tuple[HistGradientBoostingClassifier | None, dict[str, Any]]:
    report: dict[str, Any] = {
        "horizon_days": horizon,
        "buyers": len(train),
        "positive_share": round(float(y.mean()), 4) if len(y) else None,
    }
    if len(train) < MIN_BUYERS or y.all() or not y.any():
        report["note"] = (
            f"not enough history before the cutoff: {len(train)} buyers, "
            f"{int(y.sum())} of them positive; no model"
        )
        return None, report
    x = _matrix(train)
    x_fit, x_held, y_fit, y_held = train_test_split(
        x, y, test_size=params.holdout_share, random_state=params.seed, stratify=y
    )
    model = _model(params).fit(x_fit, y_fit)
    recency = x_held[:, ORDER_COLUMNS.index("recency_days")]
    report.update(
        auc=round(float(roc_auc_score(y_held, model.predict_proba(x_held)[:, 1])), 4),
        # Recency alone: the longer since the last order, the likelier churn (and the less
        # likely a repurchase).
        baseline_auc=round(float(roc_auc_score(y_held, recency if churn else -recency)), 4),
        held_out=len(y_held),
    )
    return _model(params).fit(x, y), report


def _model(params: ModelParams) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=150, random_state=params.seed)


def outcomes(
    later_orders: ir.Table, later_events: ir.Table | None, identity: ir.Table, *, as_of: datetime
) -> tuple[pd.DataFrame, int]:
    """Days from as_of to each person's next order, and how many days the data covers.

    What lies after as_of is never used for tags; it is kept to check them against (segment
    conversion, audience comparisons).
    """
    users = identity.filter(identity.kind == USER_ID)
    joined = later_orders.join(users, later_orders.user_id == users.identifier)
    days = ibis.literal(as_of.date()).delta(joined.ts.date(), unit="day").negate()
    firsts = joined.group_by(P).aggregate(next_order_days=days.min())
    found = firsts.order_by(P).to_pyarrow().to_pandas()
    latest = [later_orders.ts.max()]
    if later_events is not None:
        latest.append(later_events.ts.max())
    ends = [v for v in (x.to_pyarrow().as_py() for x in latest) if v is not None]
    covered = max(((end.date() - as_of.date()).days for end in ends), default=0)
    return found, max(covered, 0)
