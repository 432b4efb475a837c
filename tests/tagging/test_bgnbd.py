"""BG/NBD fitted by maximum likelihood, checked on buyers simulated by the BG/NBD process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tagging import bgnbd
from tests.factories import bgnbd_buyers

TRUE = {"r": 0.8, "alpha": 30.0, "a": 1.0, "b": 4.0}


def _summary(purchases: pd.DataFrame, cutoff: float) -> tuple[np.ndarray, ...]:
    """(x, t_x, T) of each buyer whose first purchase is before `cutoff`, from the purchases
    up to it, counted directly."""
    seen = purchases[purchases.day < cutoff]
    by_buyer = seen.groupby("buyer").day
    first, last, n = by_buyer.min(), by_buyer.max(), by_buyer.size()
    return (n - 1).to_numpy(), (last - first).to_numpy(), (cutoff - first).to_numpy()


def test_the_fit_recovers_the_parameters_of_simulated_buyers() -> None:
    purchases = bgnbd_buyers(20_000, **TRUE, days=365.0, seed=11)
    fitted = bgnbd.fit(*_summary(purchases, 365.0))
    # r and alpha (the purchase rates) are pinned down closely; a and b (the dropout) less
    # so by a year of 20,000 buyers.
    assert fitted.r == pytest.approx(TRUE["r"], rel=0.05)
    assert fitted.alpha == pytest.approx(TRUE["alpha"], rel=0.05)
    assert fitted.a == pytest.approx(TRUE["a"], rel=0.25)
    assert fitted.b == pytest.approx(TRUE["b"], rel=0.25)


def test_expected_purchases_match_what_the_simulated_buyers_did_next() -> None:
    """Over buyers, the conditional expectation of the next 30 days' purchases (at the true
    parameters) averages to the purchases the process then made."""
    purchases = bgnbd_buyers(20_000, **TRUE, days=395.0, seed=12)
    x, t_x, T = _summary(purchases, 365.0)
    model = bgnbd.BGNBD(**TRUE, log_likelihood=0.0)
    expected = bgnbd.expected_purchases(model, 30.0, x, t_x, T)
    started = purchases[purchases.day < 365.0].buyer.unique()
    later = purchases[(purchases.day >= 365.0) & purchases.buyer.isin(started)]
    assert expected.mean() == pytest.approx(len(later) / len(started), rel=0.05)


def test_a_buyer_without_repeat_purchases_is_alive_and_one_long_silent_is_likely_not() -> None:
    model = bgnbd.BGNBD(**TRUE, log_likelihood=0.0)
    # x = 0: P(alive) = 1 (a buyer can drop out only after a repeat purchase).
    # x = 5, last at day 10 of 300: odds a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x).
    odds = 1.0 / (4.0 + 5 - 1) * ((30.0 + 300) / (30.0 + 10)) ** (0.8 + 5)
    alive = bgnbd.alive(model, np.array([0.0, 5.0]), np.array([0.0, 10.0]), np.array([50.0, 300.0]))
    assert alive.tolist() == pytest.approx([1.0, 1 / (1 + odds)])


@pytest.mark.parametrize(
    ("x", "t_x", "T", "message"),
    [
        ([1.0], [2.0], [0.0], "T must be positive, got 0.0"),
        ([1.0], [5.0], [3.0], "x and t_x must be at least 0, and t_x at most T"),
        ([], [], [], "x, t_x and T must be of one non-zero length, got 0, 0, 0"),
    ],
)
def test_buyers_that_cannot_be_summed_up_are_refused(
    x: list[float], t_x: list[float], T: list[float], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        bgnbd.fit(np.array(x), np.array(t_x), np.array(T))
    assert str(raised.value) == message
