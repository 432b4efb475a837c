"""What happened after a run's as_of: who ordered again, and how segments and audiences converted.

A run tagged as of a past day can be checked against what followed: the run keeps, for every
person who ordered after as_of, the days until that next order, and how many days after
as_of the data covers (its report "outcomes"). A conversion window longer than that is
refused: people who would convert in the uncovered days would count as not converting.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from pyroaring import BitMap
from sqlalchemy import Connection, select

from store import basket as basket_queries
from store.audiences import bitmaps
from store.errors import InputError
from store.models import Outcome, table_of

_outcomes = table_of(Outcome)
Z_95 = 1.959964


class SegmentConversion(NamedTuple):
    value: str
    persons: int
    converted: int


class Comparison(NamedTuple):
    a_persons: int
    a_converted: int
    b_persons: int
    b_converted: int
    both: int  # persons in a and in b (counted in each)
    difference: float  # a's rate - b's rate
    low: float  # 95% confidence interval of the difference
    high: float
    p_value: float


def covered_days(*, connection: Connection, run_id: int) -> int:
    """How many days after as_of the run's data covers (0 when it ends at as_of)."""
    report = basket_queries.report(connection=connection, run_id=run_id, section="outcomes")
    return int((report or {}).get("covered_days", 0))


def check_window(*, connection: Connection, run_id: int, days: int) -> None:
    covered = covered_days(connection=connection, run_id=run_id)
    if days < 1:
        raise InputError(f"days must be at least 1, got {days}")
    if days > covered:
        raise InputError(
            f"the data of run {run_id} covers {covered} days after its as_of, not {days}: "
            "tag as of an earlier day (portrait run --as-of) or ask for fewer days"
        )


def segment_conversion(
    *, connection: Connection, run_id: int, key: str, days: int
) -> list[SegmentConversion]:
    """Per value of `key`: persons with it, and how many of them ordered within `days`."""
    check_window(connection=connection, run_id=run_id, days=days)
    ordered = BitMap(converted(connection=connection, run_id=run_id, days=days).astype(np.uint32))
    found = [
        SegmentConversion(value, len(members), members.intersection_cardinality(ordered))
        for value, members in bitmaps.value_members(
            connection=connection, run_id=run_id, key=key
        ).items()
    ]
    return sorted(found, key=lambda row: (-row.persons, row.value))


def converted(*, connection: Connection, run_id: int, days: int) -> np.ndarray:
    """person_idx of everyone who ordered within `days` after as_of, ascending."""
    check_window(connection=connection, run_id=run_id, days=days)
    statement = (
        select(_outcomes.c.person_idx)
        .where(_outcomes.c.run_id == run_id, _outcomes.c.next_order_days <= days)
        .order_by(_outcomes.c.person_idx)
    )
    return np.array(list(connection.execute(statement).scalars()), dtype=np.int64)


def compare(a: np.ndarray, b: np.ndarray, converters: np.ndarray) -> Comparison:
    """Two-proportion z-test of the conversion of audiences a and b (person_idx arrays)."""
    xa = int(np.isin(a, converters).sum())
    xb = int(np.isin(b, converters).sum())
    na, nb = len(a), len(b)
    both = int(np.intersect1d(a, b).size)
    if not na or not nb:
        return Comparison(na, xa, nb, xb, both, 0.0, 0.0, 0.0, 1.0)
    pa, pb = xa / na, xb / nb
    pooled = (xa + xb) / (na + nb)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    z = (pa - pb) / se_pooled if se_pooled else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2))  # two-sided
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    difference = pa - pb
    return Comparison(
        na, xa, nb, xb, both, difference, difference - Z_95 * se, difference + Z_95 * se, p_value
    )


def verdict(result: Comparison, *, days: int) -> str:
    """The comparison in plain words."""
    if not result.a_persons or not result.b_persons:
        return "one of the audiences is empty: nothing to compare"
    pa = result.a_converted / result.a_persons
    pb = result.b_converted / result.b_persons
    rates = f"{pa:.1%} against {pb:.1%} ordered within {days} days"
    if result.p_value < 0.05:
        better = "a" if pa > pb else "b"
        text = f"{better} converts better: {rates} (p = {result.p_value:.3g})"
    else:
        text = (
            f"no clear difference: {rates} (p = {result.p_value:.3g}); larger audiences or a "
            "longer window would tell"
        )
    if result.both:
        text += f"; {result.both:,} persons are in both, which blurs the test"
    return text
