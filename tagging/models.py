"""Predictive tags: churn_risk and repurchase_30d, trained inside the run's own data.

Each model is trained on a time split: features as of `as_of - horizon`, computed exactly as
the run computes them as of `as_of` (only orders and events up to that cutoff), and the label
from the horizon that follows (did the buyer order again?). A quarter of those buyers is held
out, and three scorers are measured on them (ROC AUC): the model (gradient-boosted trees over
the order, gap, BG/NBD and browsing features), recency alone, and BG/NBD (`tagging.bgnbd`,
fitted on every buyer of the cutoff: it needs no label). The tag is scored by whichever ranks
the held-out buyers best, so a shipped score never does worse there than recency alone; the
run's report keeps all three AUCs and says which scored. Orders alone are enough.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from tagging import bgnbd, features
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
# What BG/NBD knows, given to the model too: the mean gap between orders, how overdue the next
# order is against it, and the BG/NBD model's own expectation over the horizon and P(alive).
BGNBD_COLUMNS = ["mean_gap_days", "overdue_ratio", "bgnbd_expected", "bgnbd_alive"]
EVENT_COLUMNS = ["events_30d", "carts_30d", "days_since_last_event"]
FEATURES = ORDER_COLUMNS + BGNBD_COLUMNS + EVENT_COLUMNS
# The three scorers a tag can be scored by; on equal held-out AUC the simpler wins.
SCORERS = ("recency", "bgnbd", "model")
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
    orders: ir.Table,
    events: ir.Table | None,
    *,
    as_of: datetime,
    params: ModelParams,
    now: ir.Table | None = None,
) -> TrainingData:
    """The feature frames of both models: the queries of `predict`, apart from its fitting (which
    then needs no connection and can run in another thread).

    `now`: `features.order_features` of `orders` as of `as_of`, where the caller has them.
    """
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
    return TrainingData(now=_features(orders, browsing, "now", as_of, ordered=now), models=trained)


def fit_and_score(data: TrainingData, params: ModelParams) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit each model on its cutoff's buyers and score every buyer of `data.now` by whichever
    of the model, recency alone and BG/NBD ranks the held-out buyers best."""
    scores = pd.DataFrame({P: data.now[P].to_numpy()})
    report: dict[str, Any] = {}
    # BG/NBD's parameters need no label: fitted once on the buyers as of as_of.
    now_bgnbd = _fit_bgnbd(data.now, params.seed) if len(data.now) else None
    for key, (horizon, churn, train) in data.models.items():
        ordered = train["ordered"].notna().to_numpy()
        y = ~ordered if churn else ordered
        scorer, report[key] = _fit(train, y, churn=churn, horizon=horizon, params=params)
        if scorer is not None and now_bgnbd is not None:
            now = _with_bgnbd(data.now, now_bgnbd, horizon)
            scores[key] = scorer.score(now)
    return scores, report


def summary(report: dict[str, Any]) -> str:
    """One line on the fitted models, for a run's progress: each one's AUC and its baselines'."""
    return ", ".join(
        (
            f"{key} AUC {r['auc']} (recency {r['baseline_auc']}, BG/NBD {r['bgnbd_auc']}; "
            f"scored by {r['scored_by']})"
        )
        if "auc" in r
        else f"{key}: none"
        for key, r in report.items()
    )


def _features(
    orders: ir.Table,
    browsing: pd.DataFrame | None,
    name: str,
    cutoff: datetime,
    *,
    ordered: ir.Table | None = None,
) -> pd.DataFrame:
    """The model's features of every buyer as of `cutoff` (`name` in `_browsing`), from what
    happened up to it (`ordered`: their order features, where they are worked out already)."""
    if ordered is None:
        ordered = features.order_features(orders.filter(orders.ts <= cutoff), as_of=cutoff)
    f = ordered.select(P, *ORDER_COLUMNS)
    frame = _with_gaps(f.order_by(P).to_pyarrow().to_pandas())
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


def _matrix(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return frame[columns].to_numpy(dtype=np.float64, na_value=np.nan)


def _present(frame: pd.DataFrame) -> list[str]:
    """The feature columns with at least one value in `frame`. One that is entirely missing
    (the event features of an orders-only shop) says nothing, and scikit-learn 1.9's
    HistGradientBoostingClassifier raises on it ("window shape cannot be larger than input
    array shape")."""
    return [c for c in FEATURES if frame[c].notna().any()]


def _with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` (ORDER_COLUMNS) with each buyer's mean days between orders (none for a single
    order) and recency over it (above 1: the next order is overdue)."""
    repeats = frame["frequency"].to_numpy(dtype=np.float64) - 1
    span = (frame["first_order_days"] - frame["recency_days"]).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(repeats > 0, span / repeats, np.nan)
        overdue = np.where(gap > 0, frame["recency_days"].to_numpy(dtype=np.float64) / gap, np.nan)
    return frame.assign(mean_gap_days=gap, overdue_ratio=overdue)


def _summary(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BG/NBD's (x, t_x, T) of each buyer: repeat orders, days from the first order to the
    last, days from the first order to the cutoff; the cutoff's day counts as one observed."""
    x = frame["frequency"].to_numpy(dtype=np.float64) - 1
    first = frame["first_order_days"].to_numpy(dtype=np.float64)
    t_x = first - frame["recency_days"].to_numpy(dtype=np.float64)
    return x, t_x, first + 1


def _fit_bgnbd(frame: pd.DataFrame, seed: int) -> bgnbd.BGNBD:
    return bgnbd.fit(*_summary(frame), seed=seed)


def _with_bgnbd(frame: pd.DataFrame, model: bgnbd.BGNBD, horizon: int) -> pd.DataFrame:
    summary = _summary(frame)
    return frame.assign(
        bgnbd_expected=bgnbd.expected_purchases(model, horizon, *summary),
        bgnbd_alive=bgnbd.alive(model, *summary),
    )


@dataclass(frozen=True)
class Scorer:
    """What scores a tag: the fitted model, or one baseline's score calibrated to a
    probability on the training buyers (a logistic curve, which keeps its order)."""

    kind: str  # one of SCORERS
    churn: bool
    columns: list[str]
    model: HistGradientBoostingClassifier | Pipeline

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kind == "model":
            x = _matrix(frame, self.columns)
        else:
            x = _baseline(frame, self.kind, self.churn).reshape(-1, 1)
        return self.model.predict_proba(x)[:, 1]


def _baseline(frame: pd.DataFrame, kind: str, churn: bool) -> np.ndarray:
    """A baseline's score, higher for the positive class: recency (the longer since the last
    order, the likelier churn and the less likely a repurchase) or BG/NBD's expected orders."""
    column = "recency_days" if kind == "recency" else "bgnbd_expected"
    values = frame[column].to_numpy(dtype=np.float64)
    return values if churn == (kind == "recency") else -values


def _fit(
    train: pd.DataFrame, y: np.ndarray, *, churn: bool, horizon: int, params: ModelParams
) -> tuple[Scorer | None, dict[str, Any]]:
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
    started = time.perf_counter()
    fitted_bgnbd = _fit_bgnbd(train, params.seed)
    bgnbd_seconds = time.perf_counter() - started
    train = _with_bgnbd(train, fitted_bgnbd, horizon)
    fit_rows, held_rows, y_fit, y_held = train_test_split(
        np.arange(len(train)),
        y,
        test_size=params.holdout_share,
        random_state=params.seed,
        stratify=y,
    )
    # Decided on the rows the held-out model learns from, so that both fits see every column.
    columns = _present(train.iloc[fit_rows])
    x = _matrix(train, columns)
    started = time.perf_counter()
    model = _model(params).fit(x[fit_rows], y_fit)
    model_seconds = time.perf_counter() - started
    held = train.iloc[held_rows]
    aucs = {
        "model": _auc(y_held, model.predict_proba(x[held_rows])[:, 1]),
        "recency": _auc(y_held, _baseline(held, "recency", churn)),
        "bgnbd": _auc(y_held, _baseline(held, "bgnbd", churn)),
    }
    # The best held-out AUC; on a tie the first of SCORERS (the simplest).
    kind = max(SCORERS, key=lambda k: (aucs[k], -SCORERS.index(k)))
    report.update(
        features_left_out=[c for c in FEATURES if c not in columns],
        auc=aucs["model"],
        baseline_auc=aucs["recency"],
        bgnbd_auc=aucs["bgnbd"],
        scored_by=kind,
        score_auc=aucs[kind],
        held_out=len(y_held),
        bgnbd=fitted_bgnbd.as_dict(),
        fit_seconds={"model": round(model_seconds, 3), "bgnbd": round(bgnbd_seconds, 3)},
    )
    if kind == "model":
        final: HistGradientBoostingClassifier | Pipeline = _model(params).fit(x, y)
    else:
        # Standardised first: days since the last order run to hundreds, where lbfgs converges
        # slowly and warns.
        calibration = make_pipeline(StandardScaler(), LogisticRegression())
        final = calibration.fit(_baseline(train, kind, churn).reshape(-1, 1), y)
    return Scorer(kind=kind, churn=churn, columns=columns, model=final), report


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return round(float(roc_auc_score(y, score)), 4)


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
