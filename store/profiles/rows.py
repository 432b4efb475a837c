"""Profile rows: one per person and run, with the person's attributes, tags and features.

A profile's tags are codes of the run's `tag_bitmaps` rows (`store.audiences.bitmaps`); `TagCodes`
turns them back into (key, value, score), from a per-run dictionary read once per process.
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from store.audiences.bitmaps import Layout
from store.models import Profile, Run, TagBitmap, table_of
from store.snapshot import bulk
from store.snapshot.bulk import Batches, Rows

_profiles = table_of(Profile)
_bitmaps = table_of(TagBitmap)
_runs = table_of(Run)
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
FEATURES_LEVEL = 6  # zlib: 810 bytes of JSON per person down to ~110


class TagRow(NamedTuple):
    """One tag of one person."""

    person_idx: int
    key: str
    value: str
    score: float | None


@dataclass(frozen=True)
class People:
    """A run's persons as compactly as a million of them can be held: dense index, pseudonym
    and attributes as JSON text (a million attribute dicts held at once took a gigabyte)."""

    idx: np.ndarray  # int64, the run's dense person_idx
    person_id: pa.Array  # string
    attributes: pa.Array  # large_string, JSON text

    def ids(self) -> pd.DataFrame:
        """person_idx, person_id: what the numbering reads."""
        return pd.DataFrame({"person_idx": self.idx, "person_id": self.person_id.to_pandas()})


def people(rows: Rows) -> People:
    """The run's persons (person_idx, person_id, attributes as a dict or an Arrow struct), read
    a chunk at a time: each chunk's attributes become JSON text before the next is read."""
    idx: list[np.ndarray] = []
    ids: list[pa.Array] = []
    texts: list[pa.Array] = []
    for chunk in _frames(rows):
        n = chunk.num_rows if isinstance(chunk, pa.RecordBatch) else len(chunk)
        if isinstance(chunk, pa.RecordBatch):
            idx.append(chunk.column("person_idx").to_numpy().astype(np.int64))
            ids.append(pc.cast(chunk.column("person_id"), pa.string()))
            names = chunk.schema.names
            attributes = chunk.column("attributes").to_pylist() if "attributes" in names else None
        else:
            idx.append(chunk["person_idx"].to_numpy(dtype=np.int64))
            ids.append(pa.array(chunk["person_id"].astype(str).tolist(), pa.string()))
            attributes = chunk["attributes"].tolist() if "attributes" in chunk.columns else None
        texts.append(
            pa.array(
                ["{}"] * n if attributes is None else _json_texts(attributes), pa.large_string()
            )
        )
    if not idx:
        return People(
            np.empty(0, np.int64), pa.array([], pa.string()), pa.array([], pa.large_string())
        )
    return People(
        np.concatenate(idx),
        pa.concat_arrays(ids),
        pa.concat_arrays(texts),
    )


def write(
    conn: Connection,
    run_id: int,
    persons: People,
    features: Rows,
    layout: Layout,
    numbers: np.ndarray,
) -> tuple[int, list[str]]:
    """Write the run's profile rows, by person number; the bytes they take, and the features'
    names in order.

    Every column is held as one Arrow array (a million persons: about 600 MB) and handed to the
    driver a chunk of Python values at a time.
    """
    number = numbers[persons.idx]
    order = np.argsort(number, kind="stable")
    number = number[order]
    take = pa.array(order)
    tagged = layout.profile_tags
    tags = _aligned(number, tagged.column("person").to_numpy(), tagged.column("tags"), "[]")
    feature_numbers, blobs, names = _features(features, numbers)
    by_number = np.argsort(feature_numbers, kind="stable")
    blob = _aligned(number, feature_numbers[by_number], blobs.take(pa.array(by_number)), None)
    table = pa.table(
        {
            "person_idx": pa.array(number, pa.int64()),
            "person_id": persons.person_id.take(take),
            "attributes": persons.attributes.take(take),
            "tags": tags,
            "features": blob,
        }
    )
    rows = Batches(table.num_rows, lambda: iter(table.to_batches(bulk.WRITE_CHUNK_ROWS)))
    bulk.insert_rows(conn, _profiles, run_id, rows)
    size = sum(
        int(pc.sum(pc.binary_length(table.column(c))).as_py() or 0)
        for c in ("person_id", "attributes", "tags", "features")
    )
    return size + 8 * table.num_rows, names


def _aligned(
    wanted: np.ndarray, have: np.ndarray, values: pa.Array | pa.ChunkedArray, missing: str | None
) -> pa.Array:
    """`values` (one per sorted, distinct number in `have`) for each number of `wanted`, and
    `missing` for a number `have` has not."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    at = np.searchsorted(have, wanted)
    found = at < len(have)
    found[found] = have[at[found]] == wanted[found]
    if not found.any():
        return pa.array([missing] * len(wanted), values.type)
    picked = values.take(pa.array(np.where(found, at, 0)))
    return pc.if_else(pa.array(found), picked, pa.scalar(missing, values.type))


def _json_texts(values: list[Any]) -> list[str]:
    dumps, default = orjson.dumps, str
    return [
        dumps({} if v is None else v, default=default, option=JSON_OPTIONS).decode() for v in values
    ]


def _features(rows: Rows, numbers: np.ndarray) -> tuple[np.ndarray, pa.Array, list[str]]:
    """Each person's number and features as a compressed JSON array, and the names of its
    values. Features come wide (person_idx and a float column per feature, NaN where missing:
    the tagging run's, a chunk at a time) or as a dict per person (`values`)."""
    dumps, compress = orjson.dumps, zlib.compress
    persons: list[np.ndarray] = []
    blobs: list[bytes] = []
    names: list[str] = []
    dicts: list[pd.DataFrame] = []
    for chunk in _frames(rows):
        frame = chunk.to_pandas() if isinstance(chunk, pa.RecordBatch) else chunk
        if not len(frame):
            continue
        if "values" in frame.columns:
            dicts.append(frame)
            continue
        names = names or [c for c in frame.columns if c != "person_idx"]
        values = np.ascontiguousarray(frame[names].to_numpy(dtype=np.float64))
        persons.append(numbers[frame["person_idx"].to_numpy(dtype=np.int64)])
        # orjson writes NaN as null and a float64 as the shortest text that reads back the same.
        blobs.extend(compress(dumps(row, option=JSON_OPTIONS), FEATURES_LEVEL) for row in values)
    if dicts:
        # Names in the order the first person having each is written (small runs, tests).
        names = list(dict.fromkeys(k for frame in dicts for d in frame["values"] for k in d))
        for frame in dicts:
            persons.append(numbers[frame["person_idx"].to_numpy(dtype=np.int64)])
            blobs.extend(
                compress(dumps([d.get(n) for n in names], option=JSON_OPTIONS), FEATURES_LEVEL)
                for d in frame["values"]
            )
    found = np.concatenate(persons) if persons else np.empty(0, dtype=np.int64)
    return found, pa.array(blobs, pa.binary()), names


def features_of(data: bytes | None, names: list[str]) -> dict[str, Any] | None:
    """A profile's features by name (missing ones left out), from its stored array."""
    if data is None:
        return None
    values = orjson.loads(zlib.decompress(data))
    return {n: v for n, v in zip(names, values, strict=True) if v is not None}


def _frames(rows: Rows) -> Iterator[pd.DataFrame | pa.RecordBatch]:
    if isinstance(rows, Batches):
        yield from rows.read()
    elif len(rows):
        yield rows


class RunDictionary(NamedTuple):
    """What a run's profile rows are written in terms of."""

    codes: dict[int, tuple[str, str | None]]  # tag code -> (key, value); None: a number key
    feature_names: list[str]


# Each engine's dictionaries by run: a run's never change once it is committed.
_dictionaries: weakref.WeakKeyDictionary[Engine, dict[int, RunDictionary]] = (
    weakref.WeakKeyDictionary()
)
_dictionaries_lock = threading.Lock()
RUNS_KEPT = 64


def run_dictionary(connection: Connection, run_id: int) -> RunDictionary:
    """The tag codes and feature names of one run, read once per process."""
    with _dictionaries_lock:
        runs = _dictionaries.setdefault(connection.engine, {})
        found = runs.get(run_id)
    if found is None:
        rows = connection.execute(
            select(_bitmaps.c.code, _bitmaps.c.key, _bitmaps.c.value).where(
                _bitmaps.c.run_id == run_id
            )
        ).all()
        names = connection.execute(
            select(_runs.c.feature_names).where(_runs.c.id == run_id)
        ).scalar_one_or_none()
        found = RunDictionary({int(c): (k, v) for c, k, v in rows}, list(names or []))
        with _dictionaries_lock:
            if len(runs) >= RUNS_KEPT:
                runs.pop(next(iter(runs)))
            runs[run_id] = found
    return found


def tag_codes(connection: Connection, run_id: int) -> dict[int, tuple[str, str | None]]:
    """code -> (key, value) of one run (value None: a number key's own row)."""
    return run_dictionary(connection, run_id).codes


def decode(
    codes: dict[int, tuple[str, str | None]],
    person_idx: int,
    tags: str,
    keys: Collection[str] | None = None,
) -> list[TagRow]:
    """A profile's tags, ordered by key, then score (highest first, unscored last), then value.

    Entries are written in code order, and codes in (key, value) order, so only the values of
    a key with several need sorting (by score).
    """
    rows: list[TagRow] = []
    runs: list[int] = []  # where a key with several values starts
    for entry in orjson.loads(tags):
        key, value = codes[entry[0]]
        if keys is not None and key not in keys:
            continue
        if len(entry) > 1:
            # A whole score is written as an integer (3): read back as the float it was.
            score = None if entry[1] is None else float(entry[1])
            if len(entry) > 2:
                value = entry[2]
        else:
            score = None
        if rows and rows[-1].key == key and (not runs or rows[runs[-1]].key != key):
            runs.append(len(rows) - 1)
        rows.append(TagRow(person_idx, key, "" if value is None else value, score))
    for start in runs:
        stop = start + 1
        while stop < len(rows) and rows[stop].key == rows[start].key:
            stop += 1
        rows[start:stop] = sorted(rows[start:stop], key=_tag_order)
    return rows


def _tag_order(row: TagRow) -> tuple[Any, ...]:
    return (row.key, row.score is None, -(row.score or 0.0), row.value)


def arrow_codes(codes: dict[int, tuple[str, str | None]]) -> pa.Table:
    """The dictionary as a table (code, key, value), for joins in DuckDB or pandas."""
    ordered = sorted(codes.items())
    return pa.table(
        {
            "code": [c for c, _ in ordered],
            "key": [k for _, (k, _v) in ordered],
            "value": [v for _, (_k, v) in ordered],
        }
    )
