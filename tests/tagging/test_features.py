"""Feature rows as the store keeps them: rounded exactly as Python's round() rounds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from tagging.features import feature_records, rounded

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
