"""Drift between runs: how far each tag key's distribution moved (population stability index).

For a key, each value is a bucket and so is "no value" (persons without the key), so a key
that reaches fewer persons drifts too. Number keys (recency_days, ...) are bucketed by the
deciles of the previous run. PSI = sum over buckets of (new - old) * ln(new / old), shares
floored at 0.0001 so an empty bucket does not divide by zero; 0.1 is a small shift, over 0.2
is usually read as a real one (the default threshold). Persona keys are left out: each run
clusters afresh, so their values are new names rather than the same groups.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.engine import Engine

from store.audiences import bitmaps
from store.models import DriftRow, Run, TagDefinition, table_of

DEFAULT_THRESHOLD = 0.2
FLOOR = 1e-4
NONE = "(no value)"
BINS = 10

_runs = table_of(Run)
_definitions = table_of(TagDefinition)
_drift = table_of(DriftRow)


class KeyDrift(NamedTuple):
    key: str
    psi: float
    flagged: bool


class DriftReport(NamedTuple):
    run_id: int
    previous_run_id: int
    threshold: float
    keys: list[KeyDrift]  # most drifted first


def psi(old: Mapping[str, float], new: Mapping[str, float]) -> float:
    """Population stability index of two distributions given as counts (or shares)."""
    old_total, new_total = sum(old.values()), sum(new.values())
    if not old_total or not new_total:
        return 0.0
    total = 0.0
    for bucket in set(old) | set(new):
        before = max(old.get(bucket, 0) / old_total, FLOOR)
        after = max(new.get(bucket, 0) / new_total, FLOOR)
        total += (after - before) * math.log(after / before)
    return total


def measure(
    *, engine: Engine, run_id: int, threshold: float = DEFAULT_THRESHOLD
) -> DriftReport | None:
    """Compare the run with the committed run before it, store and return the report; None
    for a first run."""
    with engine.connect() as connection:
        previous = connection.execute(
            select(func.max(_runs.c.id)).where(_runs.c.id < run_id, _runs.c.status == "committed")
        ).scalar()
        if previous is None:
            return None
        keys = sorted(
            (_keys(connection, run_id) | _keys(connection, previous))
            - _persona_keys(connection, run_id)
        )
        numbers = _number_keys(connection, run_id)
        drifts = [
            KeyDrift(key, round(value, 6), value > threshold)
            for key in keys
            for value in [_key_psi(connection, previous, run_id, key, key in numbers)]
        ]
    drifts.sort(key=lambda d: (-d.psi, d.key))
    report = DriftReport(run_id, int(previous), threshold, drifts)
    _store(engine, report)
    return report


def stored(*, connection: Connection, run_id: int) -> DriftReport | None:
    """The drift report stored for a run, or None (a first run, or one before drift existed)."""
    rows = connection.execute(
        select(_drift).where(_drift.c.run_id == run_id).order_by(_drift.c.psi.desc(), _drift.c.key)
    ).all()
    if not rows:
        return None
    keys = [KeyDrift(row.key, row.psi, row.flagged) for row in rows]
    return DriftReport(run_id, rows[0].previous_run_id, rows[0].threshold, keys)


def _store(engine: Engine, report: DriftReport) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(delete(_drift).where(_drift.c.run_id == report.run_id))
        if report.keys:
            connection.execute(
                insert(_drift),
                [
                    {
                        "run_id": report.run_id,
                        "key": d.key,
                        "previous_run_id": report.previous_run_id,
                        "psi": d.psi,
                        "flagged": d.flagged,
                        "threshold": report.threshold,
                        "measured_at": now,
                    }
                    for d in report.keys
                ],
            )


def _keys(connection: Connection, run_id: int) -> set[str]:
    return bitmaps.keys_of(connection=connection, run_id=run_id)


def _persona_keys(connection: Connection, run_id: int) -> set[str]:
    """Keys re-clustered by each run: their values are new names, not comparable across runs."""
    statement = select(_definitions.c.key).where(
        _definitions.c.run_id == run_id, _definitions.c.kind == "persona"
    )
    return set(connection.execute(statement).scalars())


def _number_keys(connection: Connection, run_id: int) -> set[str]:
    statement = select(_definitions.c.key).where(
        _definitions.c.run_id == run_id, _definitions.c.value_type == "number"
    )
    return set(connection.execute(statement).scalars())


def _persons(connection: Connection, run_id: int) -> int:
    return int(connection.execute(select(_runs.c.persons).where(_runs.c.id == run_id)).scalar_one())


def _key_psi(connection: Connection, old: int, new: int, key: str, number: bool) -> float:
    if number:
        before, after = _scores(connection, old, key), _scores(connection, new, key)
        inner = np.linspace(0, 1, BINS + 1)[1:-1]
        edges = np.unique(np.quantile(before, inner)) if len(before) else np.empty(0)
        old_counts = _histogram(before, edges, _persons(connection, old))
        new_counts = _histogram(after, edges, _persons(connection, new))
        return psi(old_counts, new_counts)
    return psi(_value_counts(connection, old, key), _value_counts(connection, new, key))


def _value_counts(connection: Connection, run_id: int, key: str) -> dict[str, float]:
    counts = {
        value: float(rows)
        for value, rows in bitmaps.value_counts(connection=connection, run_id=run_id, key=key)
    }
    having = len(bitmaps.key_members(connection=connection, run_id=run_id, key=key))
    counts[NONE] = float(_persons(connection, run_id) - having)
    return counts


def _scores(connection: Connection, run_id: int, key: str) -> np.ndarray:
    return bitmaps.key_scores(connection=connection, run_id=run_id, key=key)[1]


def _histogram(
    scores: np.ndarray, edges: np.ndarray | list[float], persons: int
) -> dict[str, float]:
    bins = np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="right")
    counts = {
        f"bin_{b}": float(n) for b, n in zip(*np.unique(bins, return_counts=True), strict=True)
    }
    counts[NONE] = float(max(persons - len(scores), 0))
    return counts
