"""Audiences: an expression's persons in one run, on the run's bitmap index.

A `Selection` answers the three questions audience builders ask (how many, who, and how they
spread over another key); it is evaluated once and answers from memory. Expressions reaching
here have been checked against the run's vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
from pyroaring import BitMap
from sqlalchemy.engine import Engine

from store.audiences.expressions import Expression
from store.audiences.index import AudienceIndex, load_index, members_page

Evaluator = Literal["bitmap"]


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


def selection_of(*, engine: Engine, run_id: int, expression: Expression) -> BitmapSelection:
    """An expression on a run's index loaded from the store (the command line's way in; the
    API keeps its indexes loaded, `api.audiences.indexes`)."""
    with engine.connect() as connection:
        return BitmapSelection(load_index(connection=connection, run_id=run_id), expression)


def overlap(a: Selection, b: Selection) -> tuple[int, int, int]:
    """Sizes of a, b and of both, without counting anything twice."""
    first, second = a.bitmap(), b.bitmap()
    return len(first), len(second), first.intersection_cardinality(second)
