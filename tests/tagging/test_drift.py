"""Drift between runs: the population stability index of every tag key against the last run."""

from __future__ import annotations

import math

import pytest
from sqlalchemy.engine import Engine

from store.runs import drift
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY
from tests.tagging.test_run import AS_OF, LIFECYCLE_ORDERS


def test_psi_of_a_hand_counted_shift() -> None:
    # 50/50 -> 80/20: 0.3 ln(0.8 / 0.5) + (-0.3) ln(0.2 / 0.5)
    expected = 0.3 * math.log(0.8 / 0.5) - 0.3 * math.log(0.2 / 0.5)
    assert drift.psi({"a": 50, "b": 50}, {"a": 80, "b": 20}) == pytest.approx(expected)
    assert drift.psi({"a": 1, "b": 3}, {"a": 2, "b": 6}) == 0.0  # same shares
    # A bucket that empties is floored at 0.0001 of the whole, not a division by zero.
    assert drift.psi({"a": 1}, {"b": 1}) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))


def test_an_unchanged_rerun_flags_nothing_and_a_planted_shift_is_flagged(
    shop_dir, engine: Engine
) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    first = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    assert first.drift is None  # nothing to compare with
    again = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    assert again.drift is not None
    assert again.drift.previous_run_id == first.run_id
    assert {d.key: d.psi for d in again.drift.keys} == dict.fromkeys(
        {d.key for d in again.drift.keys}, 0.0
    )
    assert len(again.drift.keys) == 15  # every key of the run
    # Every order moves to one new channel: only primary_channel moves.
    moved = shop_dir(orders=LIFECYCLE_ORDERS.replace(",app", ",store").replace(",web", ",store"))
    shifted = run_tagging(engine=engine, options=RunOptions(moved, ID_KEY, as_of=AS_OF))
    assert shifted.drift is not None
    assert [d.key for d in shifted.drift.keys if d.flagged] == ["primary_channel"]
    assert shifted.drift.keys[0].key == "primary_channel"
    # app 4/6 and web 2/6 -> store 6/6, each emptied or new bucket floored at 0.0001
    floor = 1e-4
    expected = sum(
        (after - before) * math.log(after / before)
        for before, after in ((4 / 6, floor), (2 / 6, floor), (floor, 1.0))
    )
    assert shifted.drift.keys[0].psi == pytest.approx(expected)
    with engine.connect() as connection:
        assert drift.stored(connection=connection, run_id=shifted.run_id) == shifted.drift
