"""Profile rows: one per person and run, with the person's attributes, tags and features.

A profile's tags are codes of the run's `tag_bitmaps` rows (`store.audiences.bitmaps`); `TagCodes`
turns them back into (key, value, score), from a per-run dictionary read once per process.
"""

from __future__ import annotations

import threading
import weakref
import zlib
from collections.abc import Collection, Iterator
from typing import Any, NamedTuple

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
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


def write(
    conn: Connection,
    run_id: int,
    persons: pd.DataFrame,
    features: Rows,
    layout: Layout,
    numbers: np.ndarray,
) -> tuple[int, list[str]]:
    """Write the run's profile rows; the bytes they take, and the features' names in order."""
    frame = pd.DataFrame(
        {
            "person_idx": numbers[persons["person_idx"].to_numpy(dtype=np.int64)],
            "person_id": persons["person_id"].astype(str).to_numpy(),
            "attributes": _json_texts(persons["attributes"])
            if "attributes" in persons.columns
            else "{}",
        }
    )
    tags = layout.profile_tags.to_pandas().rename(columns={"person": "person_idx"})
    frame = frame.merge(tags, on="person_idx", how="left")
    frame["tags"] = frame["tags"].fillna("[]")
    wide, names = _features(features, numbers)
    frame = frame.merge(wide, on="person_idx", how="left")
    frame = frame.sort_values("person_idx", kind="stable")
    frame = frame[["person_idx", "person_id", "attributes", "tags", "features"]]
    frame["features"] = frame["features"].astype(object).where(frame["features"].notna(), None)
    bulk.insert_rows(conn, _profiles, run_id, frame)
    texts = ("person_id", "attributes", "tags")
    size = sum(int(frame[c].str.len().sum()) for c in texts)
    size += sum(len(b) for b in frame["features"] if b is not None)
    return size + 8 * len(frame), names


def _json_texts(values: pd.Series) -> list[str]:
    dumps, default = orjson.dumps, str
    return [
        dumps({} if v is None else v, default=default, option=JSON_OPTIONS).decode()
        for v in values
    ]


def _features(rows: Rows, numbers: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    """Each person's features as a compressed JSON array, and the names of its values."""
    chunks = [chunk for chunk in _chunks(rows) if len(chunk)]
    names = list(dict.fromkeys(k for chunk in chunks for d in chunk["values"] for k in d))
    dumps, compress = orjson.dumps, zlib.compress
    frames = [
        pd.DataFrame(
            {
                "person_idx": numbers[chunk["person_idx"].to_numpy(dtype=np.int64)],
                "features": [
                    compress(dumps([d.get(n) for n in names], option=JSON_OPTIONS), FEATURES_LEVEL)
                    for d in chunk["values"]
                ],
            }
        )
        for chunk in chunks
    ]
    if not frames:
        return pd.DataFrame({"person_idx": pd.Series(dtype="int64"), "features": None}), names
    return pd.concat(frames, ignore_index=True), names


def features_of(data: bytes | None, names: list[str]) -> dict[str, Any] | None:
    """A profile's features by name (missing ones left out), from its stored array."""
    if data is None:
        return None
    values = orjson.loads(zlib.decompress(data))
    return {n: v for n, v in zip(names, values, strict=True) if v is not None}


def _chunks(rows: Rows) -> Iterator[pd.DataFrame]:
    if isinstance(rows, Batches):
        for frame in rows.read():
            yield frame if isinstance(frame, pd.DataFrame) else frame.to_pandas()
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
