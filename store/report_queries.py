"""Reads of the persona report: tag counts of one run crossed with another tag key.

Each answer is a handful of grouped rows computed in the store (one pass over the tag rows of
the keys involved), so the report's cost does not grow with what the page shows: at 1M persons
it moves no person-level rows into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, Connection, Join, and_, case, func, select
from sqlalchemy.sql.selectable import NamedFromClause

from store.models import PersonTag, table_of

_tags = table_of(PersonTag)


class CrossCount(NamedTuple):
    by_value: str  # the value of the key crossed with (say the persona)
    key: str
    value: str
    persons: int


class ScoreBin(NamedTuple):
    by_value: str
    key: str
    bin: int  # 0 .. bins - 1: scores in [bin / bins, (bin + 1) / bins), 1.0 in the last
    persons: int


class RfmCell(NamedTuple):
    r: str
    f: str
    persons: int
    mean_monetary: float | None


def _with(
    by_key: str, run_id: int
) -> tuple[NamedFromClause, NamedFromClause, Join, ColumnElement[bool]]:
    """The tag rows of `by_key` and, as `other`, every tag row of the same persons."""
    by, other = _tags.alias("by_tag"), _tags.alias("other")
    joined = by.join(
        other, and_(other.c.run_id == by.c.run_id, other.c.person_idx == by.c.person_idx)
    )
    return by, other, joined, and_(by.c.run_id == run_id, by.c.key == by_key)


def cross_counts(
    *, connection: Connection, run_id: int, by_key: str, keys: Sequence[str]
) -> list[CrossCount]:
    """Persons with each value of each of `keys`, per value of `by_key`."""
    by, other, joined, where = _with(by_key, run_id)
    persons = func.count()
    statement = (
        select(by.c.value, other.c.key, other.c.value, persons)
        .select_from(joined)
        .where(where, other.c.key.in_(list(keys)))
        .group_by(by.c.value, other.c.key, other.c.value)
        .order_by(by.c.value, other.c.key, persons.desc(), other.c.value)
    )
    return [CrossCount(b, k, v, int(n)) for b, k, v, n in connection.execute(statement)]


def score_bins(
    *, connection: Connection, run_id: int, by_key: str, keys: Sequence[str], bins: int = 10
) -> list[ScoreBin]:
    """How the scores of each of `keys` (in [0, 1]) spread over `bins` equal bins, per value
    of `by_key`."""
    by, other, joined, where = _with(by_key, run_id)
    # CASE rather than floor(): SQLite has floor() only when built with its math functions.
    binned = case(
        *((other.c.score < (b + 1) / bins, b) for b in range(bins - 1)), else_=bins - 1
    ).label("bin")
    statement = (
        select(by.c.value, other.c.key, binned, func.count())
        .select_from(joined)
        .where(where, other.c.key.in_(list(keys)), other.c.score.is_not(None))
        .group_by(by.c.value, other.c.key, binned)
        .order_by(by.c.value, other.c.key, binned)
    )
    return [ScoreBin(b, k, int(i), int(n)) for b, k, i, n in connection.execute(statement)]


def rfm_grid(*, connection: Connection, run_id: int) -> list[RfmCell]:
    """Persons per (R, F) quintile score, with their mean monetary value."""
    r, f, m = _tags.alias("r"), _tags.alias("f"), _tags.alias("m")
    same = and_(f.c.run_id == r.c.run_id, f.c.person_idx == r.c.person_idx, f.c.key == "rfm_f")
    money = and_(m.c.run_id == r.c.run_id, m.c.person_idx == r.c.person_idx, m.c.key == "monetary")
    statement = (
        select(r.c.value, f.c.value, func.count(), func.avg(m.c.score))
        .select_from(r.join(f, same).outerjoin(m, money))
        .where(r.c.run_id == run_id, r.c.key == "rfm_r")
        .group_by(r.c.value, f.c.value)
        .order_by(r.c.value, f.c.value)
    )
    return [
        RfmCell(rv, fv, int(n), None if mean is None else float(mean))
        for rv, fv, n, mean in connection.execute(statement)
    ]
