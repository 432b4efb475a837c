"""Audiences: an expression's persons in one run, through the bitmap index or through SQL.

A `Selection` answers the three questions audience builders ask (how many, who, and how they
spread over another key) the same way whichever evaluator is behind it; the bitmap one is
evaluated once and answers from memory, the SQL one asks the store each time (and caches the
count). Expressions reaching here have been checked against the run's vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
from pyroaring import BitMap
from sqlalchemy.engine import Engine

from store import audience_sql
from store.audience_index import AudienceIndex, members_page
from store.expressions import And, Expression

Evaluator = Literal["bitmap", "sql"]


class Selection(Protocol):
    evaluator: Evaluator
    expression: Expression

    def count(self) -> int: ...

    def members(self, *, after: int | None, first: int) -> list[int]:
        """Up to `first` person_idx in ascending order, after `after` if given."""
        ...

    def breakdown(self, key: str) -> list[tuple[str, int]]:
        """(value of `key`, persons with it) for values present in the audience, most first."""
        ...

    def everyone(self) -> np.ndarray:
        """Every person_idx of the audience (int64), ascending."""
        ...

    def bitmap(self) -> BitMap:
        """Every person_idx of the audience, as a bitmap."""
        ...


@dataclass
class BitmapSelection:
    index: AudienceIndex
    expression: Expression
    evaluator: Evaluator = field(default="bitmap", init=False)

    @cached_property
    def persons(self) -> BitMap:
        return self.index.evaluate(self.expression)

    def count(self) -> int:
        return len(self.persons)

    def members(self, *, after: int | None, first: int) -> list[int]:
        return members_page(self.persons, after=after, first=first)

    def breakdown(self, key: str) -> list[tuple[str, int]]:
        return self.index.breakdown(self.persons, key)

    def everyone(self) -> np.ndarray:
        return np.frombuffer(self.persons.to_array(), dtype=np.uint32).astype(np.int64)

    def bitmap(self) -> BitMap:
        return self.persons


@dataclass
class SqlSelection:
    engine: Engine
    run_id: int
    expression: Expression
    evaluator: Evaluator = field(default="sql", init=False)

    @cached_property
    def _count(self) -> int:
        with self.engine.connect() as connection:
            return audience_sql.count(
                connection=connection, run_id=self.run_id, expression=self.expression
            )

    def count(self) -> int:
        return self._count

    def members(self, *, after: int | None, first: int) -> list[int]:
        with self.engine.connect() as connection:
            return audience_sql.members(
                connection=connection,
                run_id=self.run_id,
                expression=self.expression,
                after=after,
                first=first,
            )

    def breakdown(self, key: str) -> list[tuple[str, int]]:
        with self.engine.connect() as connection:
            return audience_sql.breakdown(
                connection=connection, run_id=self.run_id, expression=self.expression, key=key
            )

    def everyone(self) -> np.ndarray:
        with self.engine.connect() as connection:
            members = audience_sql.everyone(
                connection=connection, run_id=self.run_id, expression=self.expression
            )
        return np.array(members, dtype=np.int64)

    @cached_property
    def _bitmap(self) -> BitMap:
        return BitMap(self.everyone().astype(np.uint32))

    def bitmap(self) -> BitMap:
        return self._bitmap


def overlap(a: Selection, b: Selection) -> tuple[int, int, int]:
    """Sizes of a, b and of both; on bitmaps without counting anything twice."""
    if isinstance(a, BitmapSelection) and isinstance(b, BitmapSelection):
        return len(a.persons), len(b.persons), a.persons.intersection_cardinality(b.persons)
    if isinstance(a, SqlSelection) and isinstance(b, SqlSelection):
        both = SqlSelection(a.engine, a.run_id, And((a.expression, b.expression)))
        return a.count(), b.count(), both.count()
    raise TypeError("both selections must use the same evaluator")
