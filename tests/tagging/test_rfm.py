"""RFM features and scores against a direct computation on a hand-made shop."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store.profiles.export import export_features, export_tags
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

ORDERS = """
order_id,user_id,ts,amount,coupon_code,discount,channel
o1,alice,2026-06-01T10:00:00Z,100.00,,0,app
o2,alice,2026-06-28T19:30:00+08:00,50.50,SAVE5,5,app
o3,alice,1782777600,20,,,app
o4,bob,2026-03-01 12:00:00,300,,,web
o5,carol,1780000000000,80,,,app
o6,dave,2026-06-30T23:59:59Z,10,,,web
o7,dave,2026-07-01T00:00:00Z,999,,,web
o8,erin,2025-12-24T21:00:00Z,45,,,web
o9,erin,2026-01-10T21:00:00Z,45,,,web
"""
AS_OF = date(2026, 6, 30)


def percent_rank_score(values: pd.Series, *, ascending: bool) -> pd.Series:
    """The documented definition: 1 + floor(5 * percent_rank), ties sharing the lowest rank."""
    ranks = values.rank(method="min", ascending=ascending)
    share = (ranks - 1) / (len(values) - 1)
    return (share * 5).apply(math.floor).clip(upper=4) + 1


def expected_rfm() -> pd.DataFrame:
    rows = [line.split(",") for line in ORDERS.strip().splitlines()[1:]]
    orders = pd.DataFrame(rows, columns=ORDERS.strip().splitlines()[0].split(","))
    day = {
        "o1": "2026-06-01",
        "o2": "2026-06-28",
        "o3": "2026-06-30",
        "o4": "2026-03-01",
        "o5": "2026-05-28",
        "o6": "2026-06-30",
        "o7": "2026-07-01",
        "o8": "2025-12-24",
        "o9": "2026-01-10",
    }
    orders["day"] = pd.to_datetime(orders["order_id"].map(day))
    orders["amount"] = orders["amount"].astype(float)
    orders = orders[orders["day"] <= pd.Timestamp(AS_OF)]  # o7 is after as_of
    g = orders.groupby("user_id")
    frame = pd.DataFrame(
        {
            "recency_days": (pd.Timestamp(AS_OF) - g["day"].max()).dt.days,
            "frequency": g.size(),
            "monetary": g["amount"].sum().round(2),
        }
    )
    frame["r_score"] = percent_rank_score(frame["recency_days"], ascending=False)
    frame["f_score"] = percent_rank_score(frame["frequency"], ascending=True)
    frame["m_score"] = percent_rank_score(frame["monetary"], ascending=True)
    return frame.sort_index()


@pytest.fixture
def tagged(shop_dir, engine: Engine) -> tuple[Engine, int]:
    folder = shop_dir(orders=ORDERS)
    result = run_tagging(
        engine=engine, options=RunOptions(source=folder, id_key=ID_KEY, as_of=AS_OF)
    )
    return engine, result.run_id


def test_rfm_features_equal_a_direct_computation(tagged: tuple[Engine, int]) -> None:
    engine, run_id = tagged
    features = export_features(engine=engine, run_id=run_id).set_index("user_id").sort_index()
    expected = expected_rfm()
    columns = ["recency_days", "frequency", "monetary", "r_score", "f_score", "m_score"]
    actual = features[columns].astype(float)
    pd.testing.assert_frame_equal(actual, expected[columns].astype(float), check_names=False)


def test_hand_computed_values_match_the_definition(tagged: tuple[Engine, int]) -> None:
    """Spot values worked out by hand, so the reference computation is itself checked."""
    engine, run_id = tagged
    f = export_features(engine=engine, run_id=run_id).set_index("user_id")
    # alice: o1, o2 (2026-06-28 11:30 UTC) and o3 (epoch 1782777600 = 2026-06-30 00:00 UTC)
    assert f.loc["alice", "frequency"] == 3
    assert f.loc["alice", "monetary"] == pytest.approx(170.5)
    assert f.loc["alice", "recency_days"] == 0
    # dave's second order is one second after the as-of day ends: not counted
    assert f.loc["dave", "frequency"] == 1
    assert f.loc["dave", "monetary"] == 10
    # bob: one order on 2026-03-01, 121 days before 2026-06-30
    assert f.loc["bob", "recency_days"] == 121
    assert (f.loc["bob", "r_score"], f.loc["bob", "f_score"], f.loc["bob", "m_score"]) == (2, 1, 5)


def test_rfm_tags_carry_scores_segments_and_raw_values(tagged: tuple[Engine, int]) -> None:
    engine, run_id = tagged
    tags = export_tags(engine=engine, run_id=run_id)
    alice = tags[tags.user_id == "alice"].set_index("key")
    # alice and dave share the best recency (0 days): ranks 4 and 5 of 5 tie at the lower, R=4
    assert alice.loc["rfm_r", "value"] == "4"
    assert alice.loc["rfm_f", "value"] == "5"
    assert alice.loc["monetary", "score"] == pytest.approx(170.5)
    assert alice.loc["rfm_segment", "value"] == "high_value"  # R4 F5 M4
    segments = dict(
        zip(
            tags[tags.key == "rfm_segment"].user_id,
            tags[tags.key == "rfm_segment"].value,
            strict=True,
        )
    )
    assert segments == {
        "alice": "high_value",
        "bob": "hibernating",
        "carol": "potential",
        "dave": "new_customer",
        "erin": "at_risk",
    }
