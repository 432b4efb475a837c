"""Writing one tagging run as an atomic snapshot.

A run row is committed first with status `running`, so that operators can see it. Everything
the run produced is then written in one transaction that ends by flipping the run to
`committed`; until that commit readers keep seeing the previous committed run, and a run that
fails or is killed never becomes current.

The commit numbers the run's persons (`store.profiles.numbering`), lays its tags out as bitmaps and
profile rows (`store.audiences.bitmaps`, `store.profiles.rows`), records every saved audience's size
with who entered and left it, and prunes the runs beyond the kept ones (`store.runs.pruning`).
"""

from __future__ import annotations

import io
import os
import resource
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyroaring import BitMap
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Engine

from store.audiences import bitmaps
from store.audiences import saved as saved_audiences
from store.audiences.index import AudienceIndex, from_layout
from store.db import refresh_statistics
from store.errors import InputError
from store.models import (
    AssociationRule,
    CatalogItem,
    Outcome,
    PersonaRow,
    Recommendation,
    Run,
    RunFile,
    RunMembers,
    RunReport,
    TagBitmap,
    TagDefinition,
    table_of,
)
from store.profiles import numbering
from store.profiles import rows as profiles
from store.runs import pruning, quarantine
from store.settings import KEEP_RUNS
from store.snapshot import bulk
from store.snapshot.bulk import Rows


@dataclass
class Snapshot:
    """Everything one run writes. Rows carry exactly the columns of their table (minus run_id)."""

    persons: Rows  # person_idx, person_id, attributes (a dict, or an Arrow struct)
    identifiers: Rows  # kind, identifier, person_idx
    tags: Rows  # person_idx, key, value, score; Batches come in (key, value, person_idx) order
    # person_idx and a float column per feature (NaN: missing), or person_idx, values (dict)
    features: Rows
    definitions: list[dict[str, Any]]  # key, kind, description, source, value_type, values
    quarantine: Rows  # source, row_number, reason, raw
    quality: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    as_of: datetime | None = None
    # level, rank, antecedents (list), consequents (list), and the rule's metrics
    rules: pd.DataFrame = field(default_factory=pd.DataFrame)
    # person_idx, rank, item_id, score, rule_rank
    recommendations: Rows = field(default_factory=pd.DataFrame)
    items: pd.DataFrame = field(default_factory=pd.DataFrame)  # item_id, name, category
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> report
    files: dict[str, bytes] = field(default_factory=dict)  # name -> content
    # persona_id, name, description, size, share, top_tags (list), centroid (dict)
    personas: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcomes: pd.DataFrame = field(default_factory=pd.DataFrame)  # person_idx, next_order_days
    # Filled by the commit: each saved audience's size on the run, or why it was not counted.
    audiences: dict[str, int | str] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def begin_run(
    *, engine: Engine, source: str, params: dict[str, Any], as_of: datetime | None = None
) -> int:
    """Record a run as `running` and return its id; runs of dead processes are marked failed.
    `as_of` is for runs whose as-of is known before their data is read; a tagging run's is
    written by its commit (`Snapshot.as_of`).

    One run at a time: while another run's process is alive, this raises InputError naming it.
    The check and the insert hold the store's write lock, so two runs started together cannot
    both pass it.
    """
    runs = table_of(Run)
    with engine.begin() as conn:
        _lock_runs(conn)
        _fail_abandoned_runs(conn)
        _refuse_while_running(conn)
        result = conn.execute(
            insert(runs).values(
                status="running",
                as_of=as_of,
                started_at=_now(),
                source=source,
                pid=os.getpid(),
                params=params,
                quality={},
                timings={},
                feature_names=[],
            )
        )
        run_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
    if run_id is None:
        raise RuntimeError("the store did not return the new run's id")
    return int(run_id)


RUNS_LOCK = 7_270_001  # PostgreSQL advisory lock id of "starting a run"


def _lock_runs(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        # A write statement takes SQLite's write lock (and starts the transaction) at once;
        # a second starter waits here (busy timeout) until the first has committed.
        _start_writing(conn)
    else:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({RUNS_LOCK})")


def _start_writing(conn: Connection) -> None:
    """Open the write transaction now, on SQLite. Python's sqlite3 starts one only before a
    row is written, so the indexes dropped for a bulk load ahead of any row would be dropped
    for good, outside the transaction that is meant to give them back if the write fails."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("UPDATE runs SET id = id WHERE 0")


def _refuse_while_running(conn: Connection) -> None:
    runs = table_of(Run)
    running = conn.execute(
        select(runs.c.id, runs.c.pid, runs.c.started_at).where(runs.c.status == "running")
    ).first()
    if running is not None:
        raise _still_running(running.id, running.pid, running.started_at)


def refuse_while_running(conn: Connection) -> None:
    """InputError if a run's process is alive: a quick check before starting one (begin_run
    holds the lock and checks again)."""
    runs = table_of(Run)
    rows = conn.execute(
        select(runs.c.id, runs.c.pid, runs.c.started_at).where(runs.c.status == "running")
    ).all()
    for row in rows:
        if row.pid is None or _process_alive(int(row.pid)):
            raise _still_running(row.id, row.pid, row.started_at)


def _still_running(run_id: int, pid: int | None, started_at: datetime) -> InputError:
    return InputError(
        f"run {run_id} is still running (process {pid}, started "
        f"{started_at:%Y-%m-%d %H:%M:%S} UTC): one run at a time; wait for it to "
        "end, or stop that process"
    )


def _fail_abandoned_runs(conn: Connection) -> None:
    runs = table_of(Run)
    rows = conn.execute(runs.select().where(runs.c.status == "running")).mappings().all()
    for row in rows:
        if row["pid"] is not None and not _process_alive(int(row["pid"])):
            conn.execute(
                update(runs)
                .where(runs.c.id == row["id"])
                .values(status="failed", error=f"abandoned: process {row['pid']} ended mid-run")
            )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def commit_snapshot(
    *, engine: Engine, run_id: int, snapshot: Snapshot, keep_runs: int = KEEP_RUNS
) -> None:
    """Write the whole snapshot and flip the run to `committed`, in one transaction; committed
    runs beyond the newest `keep_runs` are pruned in the same transaction.

    The seconds spent writing are added to `snapshot.timings["write"]` (and stored with the run).
    """
    started = time.perf_counter()
    persons = profiles.people(snapshot.persons)
    identifiers = _frame(snapshot.identifiers)
    number_keys = {d["key"] for d in snapshot.definitions if d.get("value_type") == "number"}
    with engine.begin() as conn:
        _start_writing(conn)
        parts = _Clock()
        numbered = numbering.assign(
            conn,
            run_id=run_id,
            persons=persons.ids(),
            identifiers=identifiers,
        )
        numbers = numbered.numbers
        parts.lap("numbering")
        layout = bitmaps.lay_out(snapshot.tags, numbers, number_keys=number_keys)
        parts.lap("layout")
        layout.everyone = BitMap(numbers[persons.idx])
        stored, feature_names = profiles.write(
            conn, run_id, persons, snapshot.features, layout, numbers
        )
        parts.lap("profiles")
        stored += _write_bitmaps(conn, run_id, layout)
        parts.lap("bitmaps")
        snapshot.files = {**snapshot.files, quarantine.FILE: quarantine.packed(snapshot.quarantine)}
        bulk.insert_rows(conn, table_of(AssociationRule), run_id, snapshot.rules)
        bulk.insert_rows(
            conn, table_of(Recommendation), run_id, _renumbered(snapshot.recommendations, numbers)
        )
        bulk.insert_rows(conn, table_of(CatalogItem), run_id, snapshot.items)
        bulk.insert_rows(conn, table_of(PersonaRow), run_id, snapshot.personas)
        bulk.insert_rows(conn, table_of(Outcome), run_id, _renumbered(snapshot.outcomes, numbers))
        for name, content in snapshot.files.items():
            content = _renumbered_file(name, content, numbers)
            stored += len(content)
            conn.execute(
                insert(table_of(RunFile)).values(run_id=run_id, name=name, content=content)
            )
        if snapshot.reports:
            conn.execute(
                insert(table_of(RunReport)),
                [
                    {"run_id": run_id, "section": section, "report": report}
                    for section, report in snapshot.reports.items()
                ],
            )
        if snapshot.definitions:
            conn.execute(
                insert(table_of(TagDefinition)),
                [{**d, "run_id": run_id} for d in snapshot.definitions],
            )
        snapshot.audiences = saved_audiences.record_run(
            conn, run_id=run_id, index=index_of(run_id, layout), definitions=snapshot.definitions
        )
        parts.lap("rest")
        pruning.prune(conn, keep=keep_runs, newest=run_id)
        parts.lap("pruning")
        snapshot.timings["write"] = round(time.perf_counter() - started, 3)
        # Where the write's time went, beside what the run's rows take: the run's "store" report.
        conn.execute(
            insert(table_of(RunReport)).values(
                run_id=run_id,
                section="store",
                report={
                    "write_seconds": parts.laps,
                    "peak_rss_mb": parts.peaks,
                    "stored_bytes": stored,
                },
            )
        )
        values: dict[str, Any] = {
            "status": "committed",
            "finished_at": _now(),
            "persons": len(layout.everyone),
            "tag_rows": layout.tag_rows,
            "stored_bytes": stored,
            "feature_names": feature_names,
            "quality": snapshot.quality,
            "timings": snapshot.timings,
        }
        if snapshot.as_of is not None:
            values["as_of"] = snapshot.as_of
        conn.execute(update(table_of(Run)).where(table_of(Run).c.id == run_id).values(**values))
    refresh_statistics(engine)


class _Clock:
    """Seconds between laps, by name, and the process's peak resident size (MB) at the end of
    each: the lap where it grows is the one that raised it."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.peaks: dict[str, int] = {"start": _peak_mb()}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self.peaks[name] = _peak_mb()
        self._last = now


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _frame(rows: Rows) -> pd.DataFrame:
    """Rows held whole (identifiers, recommendations: a few columns a row)."""
    if isinstance(rows, pd.DataFrame):
        return rows
    frames = [f if isinstance(f, pd.DataFrame) else f.to_pandas() for f in rows.read()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _renumbered(rows: Rows, numbers: np.ndarray) -> pd.DataFrame:
    """Rows keyed by a person of the run, keyed by the person's number instead."""
    frame = _frame(rows)
    if len(frame) and "person_idx" in frame.columns:
        frame = frame.assign(person_idx=numbers[frame["person_idx"].to_numpy(dtype=np.int64)])
    return frame


def _renumbered_file(name: str, content: bytes, numbers: np.ndarray) -> bytes:
    """A run's Parquet file with a person_idx column, with person numbers in it: a row group's
    worth of rows at a time (the live path's shopping file of a million persons is 24M rows),
    cut where `pq.write_table` of the whole table cuts them."""
    if not name.endswith(".parquet"):
        return content
    source = pq.ParquetFile(io.BytesIO(content))
    schema = source.schema_arrow
    if "person_idx" not in schema.names:
        return content
    at = schema.names.index("person_idx")
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        if source.metadata.num_rows == 0:
            writer.write_table(schema.empty_table())
        for batch in source.iter_batches(batch_size=ROW_GROUP_ROWS):
            column = batch.column(at)
            renumbered = pa.array(numbers[column.to_numpy().astype(np.int64)]).cast(column.type)
            table = pa.Table.from_batches([batch]).set_column(at, schema.field(at), renumbered)
            writer.write_table(table)
    return sink.getvalue()


ROW_GROUP_ROWS = 1024 * 1024  # pyarrow's default row group


def _write_bitmaps(conn: Connection, run_id: int, layout: bitmaps.Layout) -> int:
    """The run's bitmap rows and its persons' bitmap; the bytes they take."""
    rows: list[dict[str, Any]] = []
    for code in layout.codes:
        members = layout.members[code.code]
        scored = layout.scores.get(code.key) if code.value is None else None
        rows.append(
            {
                "code": code.code,
                "key": code.key,
                "value": code.value,
                "persons": len(members),
                "members": members.serialize(),
                "score_persons": None if scored is None else bitmaps.pack(scored[0]),
                "score_values": None if scored is None else bitmaps.pack(scored[1]),
            }
        )
    everyone = layout.everyone.serialize()
    conn.execute(insert(table_of(RunMembers)).values(run_id=run_id, members=everyone))
    if rows:
        conn.execute(insert(table_of(TagBitmap)), [{"run_id": run_id, **row} for row in rows])
    blobs = ("members", "score_persons", "score_values")
    return len(everyone) + sum(len(row[b] or b"") for row in rows for b in blobs)


def index_of(run_id: int, layout: bitmaps.Layout) -> AudienceIndex:
    """The audience index of a run being written, from its layout."""
    return from_layout(run_id, layout)


def fail_run(*, engine: Engine, run_id: int, error: str) -> None:
    """Mark a run failed; the previous committed run stays current."""
    runs = table_of(Run)
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status="failed", error=error[:4000], finished_at=_now())
        )
