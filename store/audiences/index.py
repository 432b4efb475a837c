"""The audience index: one run's tags as roaring bitmaps over person numbers, in memory.

Persons keep their number across runs (`store.profiles.numbering`), so a set of persons is a bitmap,
an expression is bitmap algebra (a 3-6 term count over a million persons takes well under a
millisecond), and two runs' answers compare directly (who entered, who left). The index holds

- one bitmap per (key, value) of the category, score and flag keys, and one per key (any value);
- for every key with scores, the scored rows sorted by score, in fixed-size chunks whose
  prefix and suffix unions are made on first use: `score > x` is one suffix bitmap plus the
  few rows of one partial chunk, whatever x is.

A run's bitmaps and sorted scores are stored as they are (`store.audiences.bitmaps`), so loading an
index deserializes them and computes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from pyroaring import BitMap, FrozenBitMap
from sqlalchemy import Connection, select

from store.audiences.bitmaps import Layout, unpack
from store.audiences.expressions import (
    And,
    Compare,
    Expression,
    HasKey,
    HasValue,
    Not,
    Or,
)
from store.catalog import TagValueCounts
from store.models import RunMembers, TagBitmap, table_of

SCORE_CHUNKS = 32

_bitmaps = table_of(TagBitmap)
_members = table_of(RunMembers)


@dataclass(frozen=True)
class ScoreIndex:
    """One key's scored rows, sorted by score, with prefix and suffix unions of whole chunks
    (made on first use: loading a run's index only reads its arrays)."""

    scores: np.ndarray  # float64, ascending
    persons: np.ndarray  # uint32, aligned with scores

    @classmethod
    def build(cls, scores: np.ndarray, persons: np.ndarray) -> ScoreIndex:
        order = np.argsort(scores, kind="stable")
        return cls(scores[order], persons[order].astype(np.uint32))

    @property
    def chunk(self) -> int:
        return max(1, -(-len(self.scores) // SCORE_CHUNKS))

    @cached_property
    def _unions(self) -> tuple[list[FrozenBitMap], list[FrozenBitMap]]:
        chunk, persons = self.chunk, self.persons
        # Each chunk becomes a bitmap once; the unions grow from it (roaring ORs containers).
        chunks = [BitMap(persons[start : start + chunk]) for start in range(0, len(persons), chunk)]
        prefixes, suffixes = [FrozenBitMap()], [FrozenBitMap()]
        for bitmap in chunks:
            prefixes.append(FrozenBitMap(prefixes[-1] | bitmap))
        for bitmap in reversed(chunks):
            suffixes.append(FrozenBitMap(suffixes[-1] | bitmap))
        suffixes.reverse()
        return prefixes, suffixes

    @property
    def prefixes(self) -> list[FrozenBitMap]:
        """prefixes[i]: persons of rows [0, i * chunk)."""
        return self._unions[0]

    @property
    def suffixes(self) -> list[FrozenBitMap]:
        """suffixes[i]: persons of rows [i * chunk, n)."""
        return self._unions[1]

    def compare(self, op: str, number: float) -> BitMap:
        left = int(np.searchsorted(self.scores, number, side="left"))
        right = int(np.searchsorted(self.scores, number, side="right"))
        n = len(self.scores)
        match op:
            case "<":
                return self._rows(0, left)
            case "<=":
                return self._rows(0, right)
            case ">":
                return self._rows(right, n)
            case ">=":
                return self._rows(left, n)
            case "=":
                return self._rows(left, right)
            case _:  # "!=": a person with another score of the key matches too
                return self._rows(0, left) | self._rows(right, n)

    def _rows(self, start: int, stop: int) -> BitMap:
        """Persons of the sorted rows [start, stop)."""
        if start >= stop:
            return BitMap()
        if start == 0:
            whole = stop // self.chunk
            return BitMap(self.prefixes[whole]) | _bitmap(self.persons[whole * self.chunk : stop])
        if stop == len(self.scores):
            whole = -(-start // self.chunk)
            return BitMap(self.suffixes[whole]) | _bitmap(self.persons[start : whole * self.chunk])
        return _bitmap(self.persons[start:stop])

    def nbytes(self) -> int:
        bitmaps = sum(len(b.serialize()) for b in (*self.prefixes, *self.suffixes))
        return int(self.scores.nbytes + self.persons.nbytes + bitmaps)


def _bitmap(persons: np.ndarray) -> BitMap:
    return BitMap(persons) if len(persons) else BitMap()


@dataclass(frozen=True)
class AudienceIndex:
    """One run's bitmaps in memory: what audiences, breakdowns and diffs are computed on."""

    run_id: int
    persons: int
    everyone: FrozenBitMap
    values: dict[str, dict[str, FrozenBitMap]]  # key -> value -> persons with it
    keys: dict[str, FrozenBitMap]  # key -> persons with any value
    scores: dict[str, ScoreIndex]  # keys with scored rows
    build_seconds: float

    def evaluate(self, expression: Expression) -> BitMap:
        """The persons the expression selects."""
        match expression:
            case HasValue(key=key, values=values):
                found = self.values.get(key, {})
                return BitMap.union(BitMap(), *(found[v] for v in values if v in found))
            case HasKey(key=key):
                return BitMap(self.keys.get(key, FrozenBitMap()))
            case Compare(key=key, op=op, number=number):
                index = self.scores.get(key)
                return BitMap() if index is None else index.compare(op, number)
            case Not(item=item):
                return BitMap(self.everyone) - self.evaluate(item)
            case Or(items=items):
                return BitMap.union(BitMap(), *(self.evaluate(item) for item in items))
            case And(items=items):
                return self._all_of(items)
        raise TypeError(f"not an expression: {expression!r}")

    def _all_of(self, items: Iterable[Expression]) -> BitMap:
        """AND without building complements: NOT terms are subtracted from the others."""
        wanted = [self.evaluate(i) for i in items if not isinstance(i, Not)]
        unwanted = [self.evaluate(i.item) for i in items if isinstance(i, Not)]
        if wanted:
            wanted.sort(key=len)
            result = wanted[0].intersection(*wanted[1:]) if len(wanted) > 1 else wanted[0]
        else:
            result = BitMap(self.everyone)
        for bitmap in unwanted:
            result -= bitmap
        return result

    def breakdown(self, audience: BitMap, key: str) -> list[tuple[str, int]]:
        """(value, persons of the audience with it) for the values of `key` present, most first."""
        counts = [
            (value, audience.intersection_cardinality(members))
            for value, members in self.values.get(key, {}).items()
        ]
        return sorted(((v, n) for v, n in counts if n), key=lambda pair: (-pair[1], pair[0]))

    def value_counts(self, key: str, top: int) -> TagValueCounts | None:
        """A key's distribution as `store.catalog.tag_value_counts` counts it, from the bitmaps;
        None for a key the index holds no values of (a number key, or one nobody has)."""
        by_value = self.values.get(key)
        if not by_value:
            return None
        counts = sorted(
            ((value, len(members)) for value, members in by_value.items() if members),
            key=lambda pair: (-pair[1], pair[0]),
        )
        return TagValueCounts(
            top=counts[:top], distinct_values=len(counts), tag_rows=sum(n for _, n in counts)
        )

    def nbytes(self) -> int:
        """Serialized size of every bitmap and array: what the index holds in memory, roughly."""
        bitmaps = [b for by_value in self.values.values() for b in by_value.values()]
        bitmaps += [*self.keys.values(), self.everyone]
        return sum(len(b.serialize()) for b in bitmaps) + sum(
            s.nbytes() for s in self.scores.values()
        )


@dataclass(frozen=True)
class AudienceDiff:
    """Who an audience gained and lost from one run to another (persons keep their numbers)."""

    before: BitMap
    after: BitMap

    @cached_property
    def entered(self) -> BitMap:
        return self.after - self.before

    @cached_property
    def left(self) -> BitMap:
        return self.before - self.after

    @property
    def stayed(self) -> int:
        return self.before.intersection_cardinality(self.after)


def audience_diff(
    before: AudienceIndex, after: AudienceIndex, expression: Expression
) -> AudienceDiff:
    """The expression on two runs' indexes, compared."""
    return AudienceDiff(before.evaluate(expression), after.evaluate(expression))


def members_page(audience: BitMap, *, after: int | None, first: int) -> list[int]:
    """Up to `first` person_idx of the audience in ascending order, after `after` if given."""
    start = 0 if after is None else audience.rank(after)
    return list(audience[start : start + first])


def load_index(*, connection: Connection, run_id: int) -> AudienceIndex:
    """One run's stored bitmaps and score arrays, deserialized: no tag is recomputed."""
    started = time.perf_counter()
    everyone = connection.execute(
        select(_members.c.members).where(_members.c.run_id == run_id)
    ).scalar_one_or_none()
    rows = connection.execute(
        select(
            _bitmaps.c.key,
            _bitmaps.c.value,
            _bitmaps.c.members,
            _bitmaps.c.score_persons,
            _bitmaps.c.score_values,
        ).where(_bitmaps.c.run_id == run_id)
    )
    values: dict[str, dict[str, FrozenBitMap]] = {}
    keys: dict[str, FrozenBitMap] = {}
    scores: dict[str, ScoreIndex] = {}
    for key, value, members, score_persons, score_values in rows:
        if value is None:
            keys[key] = FrozenBitMap.deserialize(members)
            if score_persons is not None:
                scores[key] = ScoreIndex(
                    unpack(score_values, np.float64), unpack(score_persons, np.uint32)
                )
        else:
            values.setdefault(key, {})[value] = FrozenBitMap.deserialize(members)
    persons = FrozenBitMap() if everyone is None else FrozenBitMap.deserialize(everyone)
    return AudienceIndex(
        run_id=run_id,
        persons=len(persons),
        everyone=persons,
        values=values,
        keys=keys,
        scores=scores,
        build_seconds=round(time.perf_counter() - started, 3),
    )


def from_layout(run_id: int, layout: Layout) -> AudienceIndex:
    """The index of a run being written, from the bitmaps it is writing."""
    values: dict[str, dict[str, FrozenBitMap]] = {}
    keys: dict[str, FrozenBitMap] = {}
    for code in layout.codes:
        members = FrozenBitMap(layout.members[code.code])
        if code.value is None:
            keys[code.key] = members
        else:
            values.setdefault(code.key, {})[code.value] = members
    scores = {key: ScoreIndex(s, p) for key, (p, s) in layout.scores.items()}
    everyone = FrozenBitMap(layout.everyone)
    return AudienceIndex(run_id, len(everyone), everyone, values, keys, scores, 0.0)
