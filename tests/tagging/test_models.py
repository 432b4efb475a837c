"""The churn and repurchase models: what they are fitted on, and what the run reports of them."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store.profiles.export import export_tags
from tagging.models import EVENT_COLUMNS, ORDER_COLUMNS, ModelParams, TrainingData, fit_and_score
from tagging.run import RunOptions, run_tagging
from tagging.run.options import end_of_day
from tests.factories import bgnbd_buyers, bgnbd_orders
from tests.tagging.conftest import ID_KEY

START = datetime(2025, 7, 1, tzinfo=UTC)
ORDERS_ONLY_AS_OF = date(2026, 6, 30)
EVENT_FEATURES = ["events_30d", "carts_30d", "days_since_last_event"]


@pytest.fixture(scope="module")
def orders_only_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """5,000 buyers of the BG/NBD process over a year (33,440 orders), and nothing but their
    orders.csv, as the shop of issue 18 (30,000 orders of 4,500 buyers)."""
    buyers = bgnbd_buyers(5_000, r=1.2, alpha=20.0, a=1.0, b=8.0, days=365.0, seed=18)
    orders = bgnbd_orders(buyers, start=START, seed=18)
    folder = tmp_path_factory.mktemp("orders_only")
    orders.to_csv(folder / "orders.csv", index=False)
    return folder, orders


def test_an_orders_only_shop_of_5000_buyers_fits_both_models_without_event_features(
    orders_only_shop: tuple[Path, pd.DataFrame], engine: Engine
) -> None:
    folder, orders = orders_only_shop
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=ORDERS_ONLY_AS_OF))
    ts = pd.to_datetime(orders["ts"])
    as_of = end_of_day(ORDERS_ONLY_AS_OF).replace(tzinfo=UTC)
    for key, horizon, churn in (("churn_risk", 90, True), ("repurchase_30d", 30, False)):
        cutoff = as_of - timedelta(days=horizon)
        before = set(orders.user_id[ts <= cutoff])
        after = set(orders.user_id[(ts > cutoff) & (ts <= cutoff + timedelta(days=horizon))])
        positive = len(before - after) if churn else len(before & after)
        report = result.reports["models"][key]
        assert report["buyers"] == len(before)
        assert report["positive_share"] == round(positive / len(before), 4)
        assert report["held_out"] == math.ceil(0.25 * len(before))
        # Nothing but orders: the browsing features are empty, and left out of the fit.
        assert report["features_left_out"] == EVENT_FEATURES
        aucs = {"model": report["auc"], "recency": report["baseline_auc"]}
        aucs["bgnbd"] = report["bgnbd_auc"]
        assert all(0.5 < auc <= 1 for auc in aucs.values())
        # Scored by the best of the three on the held-out buyers, never below recency.
        assert report["score_auc"] == aucs[report["scored_by"]] == max(aucs.values())
    tags = export_tags(engine=engine, run_id=result.run_id)
    buyers = orders.user_id[ts <= as_of].nunique()
    assert (tags.key == "churn_risk").sum() == buyers
    assert (tags.key == "repurchase_30d").sum() == buyers


def _buyers(n: int, seed: int) -> pd.DataFrame:
    """Buyers with order features as models.training_data makes them (no events)."""
    rng = np.random.default_rng(seed)
    frequency = rng.integers(1, 8, n).astype(float)
    recency = rng.integers(0, 200, n).astype(float)
    frame = pd.DataFrame({"person_idx": np.arange(n)})
    for column in ORDER_COLUMNS:
        frame[column] = rng.random(n)
    frame["frequency"] = frequency
    frame["recency_days"] = recency
    frame["first_order_days"] = recency + rng.integers(0, 300, n) * (frequency > 1)
    repeats = frequency - 1
    span = frame["first_order_days"] - recency
    frame["mean_gap_days"] = np.where(repeats > 0, span / np.maximum(repeats, 1), np.nan)
    frame["overdue_ratio"] = np.where(
        frame["mean_gap_days"] > 0, recency / frame["mean_gap_days"], np.nan
    )
    for column in EVENT_COLUMNS:
        frame[column] = np.nan
    return frame


def test_when_recency_alone_ranks_the_held_out_buyers_perfectly_it_scores_the_tag() -> None:
    """Here a buyer orders again in the horizon exactly when their last order was under 40
    days before the cutoff: recency's held-out AUC is 1.0, which nothing can beat, and on a
    tie the simplest scorer wins. Its scores are a logistic curve of recency: in its order."""
    train = _buyers(600, seed=1)
    train["ordered"] = train["recency_days"].lt(40).map({True: True, False: None})
    now = _buyers(50, seed=2)
    data = TrainingData(
        now=now, models={"churn_risk": (90, True, train), "repurchase_30d": (30, False, train)}
    )
    scores, report = fit_and_score(data, ModelParams())
    for key in ("churn_risk", "repurchase_30d"):
        assert report[key]["baseline_auc"] == 1.0
        assert report[key]["scored_by"] == "recency"
        assert report[key]["score_auc"] == 1.0
    by_recency = scores.assign(recency=now["recency_days"]).sort_values("recency", kind="stable")
    later = by_recency.drop_duplicates("recency")
    assert np.all(np.diff(later["churn_risk"].to_numpy()) > 0)
    assert np.all(np.diff(later["repurchase_30d"].to_numpy()) < 0)
