"""A run's tags as the store keeps them: a roaring bitmap of person numbers per tag value, each
key's scores sorted, and one JSON array of tag codes per person for its profile row.

`lay_out` turns the run's tag rows (one per person and value, as the tagging engine makes
them) into that layout with DuckDB, which groups 26M rows of a million-person run on both
cores; only one bitmap per value and one string per person reach Python.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap, FrozenBitMap
from sqlalchemy import Connection, select

from store.models import RunMembers, TagBitmap, table_of
from store.snapshot.bulk import Batches, Rows

_bitmaps = table_of(TagBitmap)
_run_members = table_of(RunMembers)
SCORE_COMPRESSION = 1  # zlib level: sorted scores shrink ~3x at level 1, little more above


@dataclass(frozen=True)
class Code:
    code: int
    key: str
    value: str | None  # None: the key's row (every person with any value of it)


@dataclass
class Layout:
    """One run's tags, laid out for storing (and for the audience index, as they are)."""

    codes: list[Code]
    members: dict[int, BitMap]  # code -> persons
    scores: dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (persons uint32, scores) by score
    profile_tags: pa.Table  # person (number), tags (JSON text)
    tag_rows: int
    everyone: BitMap = field(default_factory=BitMap)


def lay_out(tags: Rows, numbers: np.ndarray, *, number_keys: set[str]) -> Layout:
    """The layout of a run's tag rows (person_idx dense, key, value, score), with each dense
    person_idx replaced by its number (`numbers[dense]`).

    Keys and values are dictionary encoded as their batches arrive, so a run's 22.5M keys and
    values are never held as text; a row's code comes from its (key index, value index) pair
    (the key's alone for a number key, whose values are amounts). numpy sorts the rows by code
    once for the bitmaps and by score within each key, and Arrow's kernels write each person's
    JSON.
    """
    table = _table(tags)
    key, value = _dictionary_column(table, "key"), _dictionary_column(table, "value")
    names = key.dictionary.to_pylist()
    numeric = np.array([k in number_keys for k in names], dtype=bool)[key.indices.to_numpy()]
    width = len(value.dictionary) + 1
    pair = key.indices.to_numpy().astype(np.int64) * width
    # A number key's value may be missing (its score is what counts); another key's may not.
    value_index = value.indices.fill_null(-1).to_numpy().astype(np.int64)
    if np.any(~numeric & (value_index < 0)):
        raise ValueError("a tag row of a key that is not a number key has no value")
    pair += np.where(numeric, 0, value_index + 1)
    del value_index
    inverse, unique = pd.factorize(pair)
    texts = value.dictionary.to_pylist()
    pairs = [
        (names[p // width], None if p % width == 0 else texts[p % width - 1])
        for p in unique.tolist()
    ]
    codes, code_of = _codes(pairs)
    code = code_of[inverse]
    del pair, inverse
    person = numbers[table.column("person_idx").to_numpy()]
    score = table.column("score").to_numpy(zero_copy_only=False)
    members = _members(codes, code, person)
    scores = _scores(codes, code, person, score)
    profile_tags = _profile_tags(code, person, table.column("score"), value, numeric)
    return Layout(codes, members, scores, profile_tags, len(code))


def _dictionary_column(table: pa.Table, name: str) -> pa.DictionaryArray:
    column = table.column(name)
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.DictionaryArray.from_arrays(pa.array([], pa.int32()), pa.array([], pa.string()))


def _profile_tags(
    code: np.ndarray,
    person: np.ndarray,
    score: pa.ChunkedArray,
    value: pa.DictionaryArray,
    numeric: np.ndarray,
) -> pa.Table:
    """person, tags: each person's tags as JSON text (`store.models.Profile`), written by
    Arrow's kernels: a double's text reads back as the same double. Entries come in code order.

    The rows go in slices of whole persons (`PROFILE_SLICE_ROWS`), two at a time: Arrow's
    kernels let go of the GIL, and each slice's intermediate strings are freed before the next
    (at a million persons, all 22.5M rows at once took 13 GB).
    """
    # By person, then code. The engine hands the rows over in (key, value) order, which is
    # code order: then one stable sort by person does (lexsort's two keys took 3x as long).
    by_code = np.argsort(code, kind="stable") if np.any(code[1:] < code[:-1]) else None
    order = np.argsort(person if by_code is None else person[by_code], kind="stable")
    if by_code is not None:
        order = by_code[order]
    persons = person[order]
    starts, _ = _runs(persons)
    bounds = _slices(starts, len(persons), PROFILE_SLICE_ROWS)
    with ThreadPoolExecutor(2, thread_name_prefix="profile-tags") as pool:
        joined = list(
            pool.map(
                lambda b: _joined(
                    code[order[b[0] : b[1]]],
                    persons[b[0] : b[1]],
                    score,
                    value,
                    numeric,
                    order[b[0] : b[1]],
                ),
                bounds,
            )
        )
    tags = pa.chunked_array(joined, pa.large_string())
    return pa.table({"person": persons[starts], "tags": tags})


PROFILE_SLICE_ROWS = 1_000_000


def _slices(starts: np.ndarray, rows: int, size: int) -> list[tuple[int, int]]:
    """(first row, end row) of slices of about `size` rows that begin where a person does."""
    if not rows:
        return [(0, 0)]
    cuts = starts[np.unique(np.searchsorted(starts, np.arange(0, rows, size), side="right") - 1)]
    ends = np.r_[cuts[1:], rows]
    return [(int(a), int(b)) for a, b in zip(cuts, ends, strict=True)]


def _joined(
    code: np.ndarray,
    persons: np.ndarray,
    score: pa.ChunkedArray,
    value: pa.DictionaryArray,
    numeric: np.ndarray,
    rows: np.ndarray,
) -> pa.Array:
    """The JSON text of each person of a slice: `rows` of the run's rows (whole persons, by
    person then code), their `code`s and `persons`; a number key's entry keeps its value's
    text (`numeric` rows)."""
    take = pa.array(rows)
    score = score.take(take)
    text = pc.if_else(
        pa.array(numeric[rows]), value.take(take).dictionary_decode(), pa.scalar(None, pa.string())
    )
    head = pc.binary_join_element_wise("[", pc.cast(pa.array(code), pa.string()), "")
    scored = pc.or_(pc.is_valid(score), pc.is_valid(text))
    score_text = pc.coalesce(pc.cast(score, pa.string()), "null")
    middle = pc.if_else(scored, pc.binary_join_element_wise(",", score_text, ""), "")
    quoted = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    tail = pc.if_else(
        pc.is_valid(text), pc.binary_join_element_wise(',"', pc.fill_null(quoted, ""), '"', ""), ""
    )
    entries = pc.binary_join_element_wise(head, middle, tail, "]", "")
    entries = pc.cast(entries, pa.large_string()).combine_chunks()
    starts, _ = _runs(persons)
    offsets = pa.array(np.r_[starts, len(persons)], pa.int64())
    lists = pa.LargeListArray.from_arrays(offsets, entries)
    comma, bracket, close, none = (pa.scalar(t, pa.large_string()) for t in (",", "[", "]", ""))
    return pc.binary_join_element_wise(bracket, pc.binary_join(lists, comma), close, none)


def _codes(pairs: list[tuple[str, str | None]]) -> tuple[list[Code], np.ndarray]:
    """Codes in (key, value) order, each key's own row (value None) before its values; and
    the code of each of `pairs` (value None: a number key's rows)."""
    everything = sorted(
        set(pairs) | {(key, None) for key, _ in pairs},
        key=lambda p: (p[0], p[1] is not None, p[1] or ""),
    )
    numbered = {pair: n for n, pair in enumerate(everything, start=1)}
    codes = [Code(numbered[pair], *pair) for pair in everything]
    return codes, np.array([numbered[pair] for pair in pairs], dtype=np.int32)


SCHEMA = pa.schema(
    [
        ("person_idx", pa.int64()),
        ("key", pa.dictionary(pa.int32(), pa.string())),
        ("value", pa.dictionary(pa.int32(), pa.string())),
        ("score", pa.float64()),
    ]
)


def _table(rows: Rows) -> pa.Table:
    """The rows with key and value dictionary encoded batch by batch, then on one dictionary
    each."""
    batches = [
        pa.RecordBatch.from_arrays(
            [
                pc.cast(b.column("person_idx"), pa.int64()),
                _encoded(b.column("key")),
                _encoded(b.column("value")),
                pc.cast(b.column("score"), pa.float64()),
            ],
            schema=SCHEMA,
        )
        for b in _record_batches(rows)
    ]
    return pa.Table.from_batches(batches, schema=SCHEMA).unify_dictionaries().combine_chunks()


def _record_batches(rows: Rows) -> Iterator[pa.RecordBatch]:
    frames = rows.read() if isinstance(rows, Batches) else iter([rows])
    for frame in frames:
        if isinstance(frame, pd.DataFrame):
            yield pa.RecordBatch.from_pandas(frame, preserve_index=False)
        else:
            yield frame


def _encoded(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        return column.cast(SCHEMA.field("key").type)
    return pc.dictionary_encode(pc.cast(column, pa.string()))


def _members(codes: list[Code], code: np.ndarray, person: np.ndarray) -> dict[int, BitMap]:
    """Each code's persons; a key's own row holds every person with any of its values."""
    order = np.argsort(code, kind="stable")
    ordered, persons = code[order], person[order].astype(np.uint32)
    starts, ends = _runs(ordered)
    found = {int(ordered[a]): BitMap(persons[a:b]) for a, b in zip(starts, ends, strict=True)}
    by_key: dict[str, list[BitMap]] = {}
    for c in codes:
        if c.value is not None and c.code in found:
            by_key.setdefault(c.key, []).append(found[c.code])
    for c in codes:
        if c.code not in found:
            found[c.code] = BitMap.union(BitMap(), *by_key.get(c.key, []))
    return found


def _scores(
    codes: list[Code], code: np.ndarray, person: np.ndarray, score: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each key's scored rows: persons (uint32) and scores, ordered by score, then person."""
    key_of = np.empty(max((c.code for c in codes), default=0) + 1, dtype=np.int32)
    names = sorted({c.key for c in codes})
    position = {name: i for i, name in enumerate(names)}
    for c in codes:
        key_of[c.code] = position[c.key]
    scored = ~np.isnan(score)
    keys, persons, values = key_of[code[scored]], person[scored], score[scored]
    order = np.lexsort((persons, values, keys))
    keys, persons, values = keys[order], persons[order].astype(np.uint32), values[order]
    starts, ends = _runs(keys)
    return {
        names[int(keys[a])]: (persons[a:b], values[a:b]) for a, b in zip(starts, ends, strict=True)
    }


def _runs(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of equal values of a sorted array starts and ends."""
    if not len(ordered):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return starts, np.r_[starts[1:], len(ordered)]


def pack(array: np.ndarray) -> bytes:
    """A numpy array as compressed bytes (`unpack` with its dtype gives it back)."""
    return zlib.compress(np.ascontiguousarray(array).tobytes(), SCORE_COMPRESSION)


def unpack(data: bytes, dtype: type[np.generic]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(data), dtype=dtype)


def frozen(data: bytes) -> FrozenBitMap:
    return FrozenBitMap.deserialize(data)


def value_members(*, connection: Connection, run_id: int, key: str) -> dict[str, FrozenBitMap]:
    """Each value of `key` in the run with its persons (none for a number key, whose values
    are amounts: see `key_scores`)."""
    rows = connection.execute(
        select(_bitmaps.c.value, _bitmaps.c.members).where(
            _bitmaps.c.run_id == run_id, _bitmaps.c.key == key, _bitmaps.c.value.is_not(None)
        )
    )
    return {value: FrozenBitMap.deserialize(members) for value, members in rows}


def key_members(*, connection: Connection, run_id: int, key: str) -> FrozenBitMap:
    """Every person of the run with any value of `key`."""
    found = connection.execute(
        select(_bitmaps.c.members).where(
            _bitmaps.c.run_id == run_id, _bitmaps.c.key == key, _bitmaps.c.value.is_(None)
        )
    ).scalar_one_or_none()
    return FrozenBitMap() if found is None else FrozenBitMap.deserialize(found)


def key_scores(*, connection: Connection, run_id: int, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(persons uint32, scores float64) of every scored tag of `key`, by score ascending."""
    found = connection.execute(
        select(_bitmaps.c.score_persons, _bitmaps.c.score_values).where(
            _bitmaps.c.run_id == run_id, _bitmaps.c.key == key, _bitmaps.c.value.is_(None)
        )
    ).first()
    if found is None or found[0] is None:
        return np.empty(0, dtype=np.uint32), np.empty(0, dtype=np.float64)
    return unpack(found[0], np.uint32), unpack(found[1], np.float64)


def keys_of(*, connection: Connection, run_id: int) -> set[str]:
    """The keys anyone in the run has."""
    statement = select(_bitmaps.c.key).where(
        _bitmaps.c.run_id == run_id, _bitmaps.c.value.is_(None), _bitmaps.c.persons > 0
    )
    return set(connection.execute(statement).scalars())


def value_counts(*, connection: Connection, run_id: int, key: str) -> list[tuple[str, int]]:
    """(value, persons) of `key`, most persons first, ties by value."""
    statement = (
        select(_bitmaps.c.value, _bitmaps.c.persons)
        .where(
            _bitmaps.c.run_id == run_id,
            _bitmaps.c.key == key,
            _bitmaps.c.value.is_not(None),
            _bitmaps.c.persons > 0,  # a value only forgotten persons had
        )
        .order_by(_bitmaps.c.persons.desc(), _bitmaps.c.value)
    )
    return [(value, int(n)) for value, n in connection.execute(statement)]


def run_everyone(*, connection: Connection, run_id: int) -> FrozenBitMap:
    found = connection.execute(
        select(_run_members.c.members).where(_run_members.c.run_id == run_id)
    ).scalar_one_or_none()
    return FrozenBitMap() if found is None else FrozenBitMap.deserialize(found)
