"""Feature rows as the store keeps them: rounded exactly as Python's round() rounds."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from tagging.features import feature_records, money_sum, rounded

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


def test_feature_records_drop_missing_values_and_round() -> None:
    wide = pd.DataFrame(
        {"person_idx": [0, 1], "monetary": [12.5, np.nan], "share": [1 / 3, 0.0078125]}
    )
    records = feature_records(wide)
    assert records["person_idx"].tolist() == [0, 1]
    assert records["values"].tolist() == [
        {"monetary": 12.5, "share": 0.333333},
        {"share": 0.007812},
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
