"""The audience index: the committed run's tags as roaring bitmaps over person_idx, in memory.

Persons are numbered 0..n-1 inside a run (`store.models`), so a set of persons is a bitmap and
an expression is bitmap algebra: a 3-6 term count over a million persons takes well under a
millisecond. The index holds

- one bitmap per (key, value) of the category, score and flag keys, and one per key (any value);
- for every key with scores, the scored rows sorted by score in fixed-size chunks, with the
  union of every prefix and suffix of whole chunks kept as bitmaps: `score > x` is one suffix
  bitmap plus the few rows of one partial chunk, whatever x is.

`store.audience_sql` evaluates the same expressions in SQL; the two must always agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from pyroaring import BitMap, FrozenBitMap
from sqlalchemy import Connection, String, bindparam, cast, func, select

from store.api_queries import TagValueCounts
from store.expressions import (
    And,
    Compare,
    Expression,
    HasKey,
    HasValue,
    Not,
    Or,
)
from store.models import Person, PersonTag, TagDefinition, table_of

SCORE_CHUNKS = 32

_tags = table_of(PersonTag)
_persons = table_of(Person)
_definitions = table_of(TagDefinition)

_NUMBER_KEYS = select(_definitions.c.key).where(
    _definitions.c.run_id == bindparam("run_id"), _definitions.c.value_type == "number"
)
# Every person of the run (0..n-1 as written; forgetting a person leaves a gap).
_EVERYONE = select(func.aggregate_strings(cast(_persons.c.person_idx, String), ",")).where(
    _persons.c.run_id == bindparam("run_id")
)
# One row per (key, value), its persons as one comma-separated string: the database does the
# grouping, and Python parses one string per value instead of building a tuple per tag row.
_VALUE_MEMBERS = (
    select(
        _tags.c.key,
        _tags.c.value,
        func.aggregate_strings(cast(_tags.c.person_idx, String), ","),
    )
    .where(
        _tags.c.run_id == bindparam("run_id"),
        _tags.c.key.not_in(bindparam("number_keys", expanding=True)),
    )
    .group_by(_tags.c.key, _tags.c.value)
)
_NUMBER_KEY_MEMBERS = (
    select(_tags.c.key, func.aggregate_strings(cast(_tags.c.person_idx, String), ","))
    .where(
        _tags.c.run_id == bindparam("run_id"),
        _tags.c.key.in_(bindparam("number_keys", expanding=True)),
    )
    .group_by(_tags.c.key)
)
# Scores come back as numbers, grouped: a float printed as text and parsed back may not be
# the same float, and one row per distinct score is far fewer rows than one per tag.
_SCORE_MEMBERS = (
    select(
        _tags.c.key,
        _tags.c.score,
        func.aggregate_strings(cast(_tags.c.person_idx, String), ","),
    )
    .where(_tags.c.run_id == bindparam("run_id"), _tags.c.score.is_not(None))
    .group_by(_tags.c.key, _tags.c.score)
)


@dataclass(frozen=True)
class ScoreIndex:
    """One key's scored rows, sorted by score, with prefix and suffix unions of whole chunks."""

    scores: np.ndarray  # float64, ascending
    persons: np.ndarray  # uint32, aligned with scores
    chunk: int
    prefixes: list[FrozenBitMap]  # prefixes[i]: persons of rows [0, i * chunk)
    suffixes: list[FrozenBitMap]  # suffixes[i]: persons of rows [i * chunk, n)

    @classmethod
    def build(cls, scores: np.ndarray, persons: np.ndarray) -> ScoreIndex:
        order = np.argsort(scores, kind="stable")
        scores, persons = scores[order], persons[order].astype(np.uint32)
        chunk = max(1, -(-len(scores) // SCORE_CHUNKS))
        # Each chunk becomes a bitmap once; the unions grow from it (roaring ORs containers).
        chunks = [BitMap(persons[start : start + chunk]) for start in range(0, len(scores), chunk)]
        prefixes, suffixes = [FrozenBitMap()], [FrozenBitMap()]
        for bitmap in chunks:
            prefixes.append(FrozenBitMap(prefixes[-1] | bitmap))
        for bitmap in reversed(chunks):
            suffixes.append(FrozenBitMap(suffixes[-1] | bitmap))
        suffixes.reverse()
        return cls(scores, persons, chunk, prefixes, suffixes)

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
        """A key's distribution as `api_queries.tag_value_counts` counts it, from the bitmaps;
        None for a key the index holds no values of (a number key, or one nobody has)."""
        by_value = self.values.get(key)
        if not by_value:
            return None
        counts = sorted(
            ((value, len(members)) for value, members in by_value.items()),
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


def members_page(audience: BitMap, *, after: int | None, first: int) -> list[int]:
    """Up to `first` person_idx of the audience in ascending order, after `after` if given."""
    start = 0 if after is None else audience.rank(after)
    return list(audience[start : start + first])


def build_index(*, connection: Connection, run_id: int) -> AudienceIndex:
    """Read one run's tags into bitmaps: a few round trips, streamed, no row objects kept."""
    started = time.perf_counter()
    members = connection.execute(_EVERYONE, {"run_id": run_id}).scalar_one()
    everyone = FrozenBitMap() if members is None else _parse_members(members)
    number_keys = list(connection.execute(_NUMBER_KEYS, {"run_id": run_id}).scalars())
    parameters = {"run_id": run_id, "number_keys": number_keys}
    values: dict[str, dict[str, FrozenBitMap]] = {}
    for key, value, members in connection.execute(_VALUE_MEMBERS, parameters):
        values.setdefault(key, {})[value] = _parse_members(members)
    keys = {key: FrozenBitMap.union(*by_value.values()) for key, by_value in values.items()}
    for key, members in connection.execute(_NUMBER_KEY_MEMBERS, parameters):
        keys[key] = _parse_members(members)
    scores = _score_indexes(connection, run_id)
    return AudienceIndex(
        run_id=run_id,
        persons=len(everyone),
        everyone=everyone,
        values=values,
        keys=keys,
        scores=scores,
        build_seconds=round(time.perf_counter() - started, 3),
    )


def _parse_members(members: str) -> FrozenBitMap:
    return FrozenBitMap(np.fromstring(members, dtype=np.uint32, sep=","))


def _score_indexes(connection: Connection, run_id: int) -> dict[str, ScoreIndex]:
    groups: dict[str, tuple[list[float], list[np.ndarray]]] = {}
    for key, score, members in connection.execute(_SCORE_MEMBERS, {"run_id": run_id}):
        scores, persons = groups.setdefault(key, ([], []))
        scores.append(score)
        persons.append(np.fromstring(members, dtype=np.uint32, sep=","))
    indexes = {}
    for key, (scores, persons) in groups.items():
        sizes = [len(p) for p in persons]
        indexes[key] = ScoreIndex.build(
            np.repeat(np.array(scores, dtype=np.float64), sizes), np.concatenate(persons)
        )
    return indexes
