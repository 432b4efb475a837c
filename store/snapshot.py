"""Writing one tagging run as an atomic snapshot.

A run row is committed first with status `running`, so that operators can see it. Everything
the run produced is then written in one transaction that ends by flipping the run to
`committed`; until that commit readers keep seeing the previous committed run, and a run that
fails or is killed never becomes current.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Column, Connection, Table, func, insert, select, update
from sqlalchemy.engine import Engine

from store import bulk
from store.bulk import Rows, row_count
from store.db import refresh_statistics
from store.errors import InputError
from store.models import (
    AssociationRule,
    CatalogItem,
    FeatureRow,
    Outcome,
    Person,
    PersonaRow,
    PersonIdentifier,
    PersonTag,
    QuarantineRow,
    Recommendation,
    Run,
    RunFile,
    RunReport,
    TagDefinition,
    table_of,
)


@dataclass
class Snapshot:
    """Everything one run writes. Rows carry exactly the columns of their table (minus run_id)."""

    persons: Rows  # person_idx, person_id, attributes (dict)
    identifiers: Rows  # kind, identifier, person_idx
    tags: Rows  # person_idx, key, value, score; Batches come in (key, value, person_idx) order
    features: Rows  # person_idx, values (dict)
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


def _now() -> datetime:
    return datetime.now(UTC)


def begin_run(*, engine: Engine, source: str, as_of: datetime, params: dict[str, Any]) -> int:
    """Record a run as `running` and return its id; runs of dead processes are marked failed.

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


def commit_snapshot(*, engine: Engine, run_id: int, snapshot: Snapshot) -> None:
    """Write the whole snapshot and flip the run to `committed`, in one transaction.

    The seconds spent writing are added to `snapshot.timings["write"]` (and stored with the run).
    """
    started = time.perf_counter()
    with engine.begin() as conn, bulk.pool("snapshot-ahead") as pool:
        _start_writing(conn)
        # Building an index after a load beats filling it row by row when the run at least
        # doubles the table (a rebuild reads every run's rows).
        with _indexes_built_after(
            conn,
            table_of(Person),
            table_of(PersonIdentifier),
            rebuild=row_count(snapshot.persons) >= _committed(conn, table_of(Run).c.persons),
        ):
            bulk.insert_rows(conn, table_of(Person), run_id, snapshot.persons)
            # In key order, so that the primary key's B-tree is filled from left to right.
            identifiers = snapshot.identifiers
            if isinstance(identifiers, pd.DataFrame):
                identifiers = identifiers.sort_values(["kind", "identifier"], kind="stable")
            bulk.insert_rows(conn, table_of(PersonIdentifier), run_id, identifiers)
        # The features' rows (a dict and its JSON per person) are made on a thread while SQLite
        # loads the tags and builds their index, which it does without holding the GIL.
        features = bulk.ahead(
            pool,
            bulk.driver_chunks(conn, table_of(FeatureRow), snapshot.features),
            bulk.CHUNKS_AHEAD,
        )
        # In the table's clustering order, so the B-tree is filled from left to right.
        tags = snapshot.tags
        if isinstance(tags, pd.DataFrame):
            tags = tags.sort_values(["key", "value", "person_idx"], kind="stable")
        rebuild = row_count(tags) >= _committed(conn, table_of(Run).c.tag_rows)
        with _indexes_built_after(conn, table_of(PersonTag), rebuild=rebuild):
            bulk.insert_rows(conn, table_of(PersonTag), run_id, tags)
        bulk.insert_chunks(conn, table_of(FeatureRow), run_id, features)
        bulk.insert_rows(conn, table_of(QuarantineRow), run_id, snapshot.quarantine)
        bulk.insert_rows(conn, table_of(AssociationRule), run_id, snapshot.rules)
        bulk.insert_rows(conn, table_of(Recommendation), run_id, snapshot.recommendations)
        bulk.insert_rows(conn, table_of(CatalogItem), run_id, snapshot.items)
        bulk.insert_rows(conn, table_of(PersonaRow), run_id, snapshot.personas)
        bulk.insert_rows(conn, table_of(Outcome), run_id, snapshot.outcomes)
        for name, content in snapshot.files.items():
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
        snapshot.timings["write"] = round(time.perf_counter() - started, 3)
        values: dict[str, Any] = {
            "status": "committed",
            "finished_at": _now(),
            "persons": row_count(snapshot.persons),
            "tag_rows": row_count(snapshot.tags),
            "quality": snapshot.quality,
            "timings": snapshot.timings,
        }
        if snapshot.as_of is not None:
            values["as_of"] = snapshot.as_of
        conn.execute(update(table_of(Run)).where(table_of(Run).c.id == run_id).values(**values))
    refresh_statistics(engine)


def fail_run(*, engine: Engine, run_id: int, error: str) -> None:
    """Mark a run failed; the previous committed run stays current."""
    runs = table_of(Run)
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(status="failed", error=error[:4000], finished_at=_now())
        )


@contextmanager
def _indexes_built_after(conn: Connection, *tables: Table, rebuild: bool) -> Iterator[None]:
    """On SQLite, when `rebuild`, drop the tables' secondary indexes for the bulk load and build
    them after it.

    Rows arrive in the clustering order, so only the secondary indexes are filled at random
    places; building one afterwards sorts instead (2.6M tag rows into a fresh store: 10.4 s with
    the index, 4.3 s + 1.5 s without and after; 295k identifiers in key order: 1.0-1.2 s with
    their person index, 0.6-0.7 s without and after). This happens inside the write
    transaction (`_start_writing`), so readers (WAL) keep using the old index and a failed run
    gets it back with the rollback.
    PostgreSQL is left alone: dropping an index there would block every reader until the commit.
    """
    if conn.dialect.name != "sqlite" or not rebuild:
        yield
        return
    indexes = sorted((i for t in tables for i in t.indexes), key=lambda index: str(index.name))
    for index in indexes:
        index.drop(conn)
    yield
    for index in indexes:
        index.create(conn)


def _committed(conn: Connection, count: Column[int]) -> int:
    """The sum of a count of the runs table (`persons`, `tag_rows`) over the committed runs:
    the rows they hold, without counting the table, which would read it."""
    runs = table_of(Run)
    total = conn.execute(
        select(func.coalesce(func.sum(count), 0)).where(runs.c.status == "committed")
    ).scalar_one()
    return int(total)
