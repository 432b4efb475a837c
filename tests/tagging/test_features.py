"""Feature rows as the store keeps them: rounded exactly as Python's round() rounds."""

from __future__ import annotations

from datetime import datetime

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from tagging.features import event_features, money_sum, rounded, stored_features

# Ties at the 7th decimal (x/128 prices), values that scale past 2**52, infinities, signed zeros.
AWKWARD = [
    0.0078125,
    -0.0078125,
    66.3165625,
    2.675,
    1e17 + 0.5,
    1e300,
    1.7e308,
    np.inf,
    -np.inf,
    -0.0,
    -1e-7,
]


def test_vectorised_rounding_rounds_like_python_at_ties_and_extremes() -> None:
    assert rounded(np.array(AWKWARD), 6).tolist() == [round(v, 6) for v in AWKWARD]


@given(st.lists(st.floats(allow_nan=False), max_size=50))
def test_vectorised_rounding_rounds_like_python(values: list[float]) -> None:
    assert rounded(np.array(values, dtype=np.float64), 6).tolist() == [round(v, 6) for v in values]


def test_stored_features_are_rounded_and_keep_missing_values_missing() -> None:
    wide = pd.DataFrame(
        {
            "person_idx": [0, 1],
            "monetary": [12.5, np.nan],
            "orders": [3, 1],
            "share": [1 / 3, 0.0078125],
        }
    )
    stored = stored_features(wide)
    assert stored.columns.tolist() == ["person_idx", "monetary", "orders", "share"]
    assert stored["person_idx"].tolist() == [0, 1]
    assert stored["orders"].dtype == np.float64
    assert stored[["monetary", "orders", "share"]].fillna(-1.0).values.tolist() == [
        [12.5, 3.0, 0.333333],
        [-1.0, 1.0, 0.007812],
    ]


def test_money_is_summed_exactly_whatever_the_order() -> None:
    # Added as floats in this order the 1.0 is lost (1e16 + 1 == 1e16); threads adding in
    # another order would keep it: an exact sum does not depend on the order.
    amounts = [1e16, 1.0, -1e16, 0.1, 0.2]
    table = ibis.memtable(pa.table({"person_idx": [0] * 5, "amount": amounts}))
    summed = table.group_by("person_idx").agg(
        total=money_sum(table.amount), floats=table.amount.sum()
    )
    row = summed.to_pyarrow().to_pylist()[0]
    assert row["floats"] != 1.3
    assert row["total"] == 1.3


def test_event_features_count_each_category_once_and_the_last_event_day() -> None:
    """Browsing counts on a hand-made log: a category seen again, or with another event
    type, counts once; an event without a category counts for nothing; the last event's day
    gives days_since_last_event; the cart an order bought from is not abandoned."""
    events = ibis.memtable(
        pa.table(
            {
                "person_idx": [0, 0, 0, 0, 0, 1, 1],
                "event_type": [
                    *("view", "add_to_cart", "view", "search", "add_to_cart"),
                    *("search", "view"),
                ],
                "ts": [
                    datetime(2026, 6, 1, 9),
                    datetime(2026, 6, 1, 9, 5),
                    datetime(2026, 6, 20, 23, 59),
                    datetime(2026, 6, 21, 0, 1),
                    datetime(2026, 6, 10, 8),
                    datetime(2026, 5, 1, 12),
                    datetime(2026, 5, 2, 12),
                ],
                "item_id": ["i1", "i1", "i2", None, "i3", None, "i4"],
                "category": ["toys", "toys", "baby", None, "toys", None, None],
                "platform": ["app", "app", "web", "app", "app", "web", "web"],
            }
        )
    )
    items = ibis.memtable(pa.table({"person_idx": pa.array([0], pa.int64()), "item_id": ["i1"]}))
    rows = event_features(events, items, as_of=datetime(2026, 6, 30, 23, 59, 59))
    found = {r["person_idx"]: r for r in rows.to_pyarrow().to_pylist()}
    assert [found[0][c] for c in ("events", "views", "searches", "carts", "app_share")] == [
        5,
        2,
        1,
        2,
        0.8,
    ]
    assert (found[0]["categories_browsed"], found[1]["categories_browsed"]) == (2, 0)
    assert (found[0]["days_since_last_event"], found[1]["days_since_last_event"]) == (9, 59)
    assert (found[0]["search_share"], found[1]["search_share"]) == (0.2, 0.5)
    # Carted i1 (bought) and i3 (not): half the carted items abandoned; person 1 never carted.
    assert (found[0]["carted_items"], found[0]["cart_abandon_rate"]) == (2, 0.5)
    assert found[1]["carted_items"] is None
