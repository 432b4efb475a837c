"""Reads of runs: the current one, the newest ones, by id, a kept one, and their reports.

Small named tuples from SQLAlchemy Core (`store.point_reads`), for the API and the command line
alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, select

from store.errors import NotFound
from store.models import Run, RunFile, table_of
from store.point_reads import point_rows

_runs = table_of(Run)
_files = table_of(RunFile)


class RunRow(NamedTuple):
    """A run without its JSON reports, which most requests do not need."""

    id: int
    status: str
    as_of: datetime | None  # null until the run commits
    started_at: datetime
    finished_at: datetime | None
    source: str
    persons: int
    tag_rows: int
    error: str | None
    stored_bytes: int


class RunReportRow(NamedTuple):
    id: int
    params: dict[str, Any]
    quality: dict[str, Any]
    timings: dict[str, Any]


_RUN_COLUMNS = [_runs.c[name] for name in RunRow._fields]

_CURRENT_RUN = (
    select(*_RUN_COLUMNS).where(_runs.c.status == "committed").order_by(_runs.c.id.desc()).limit(1)
)
_LAST_RUNS = select(*_RUN_COLUMNS).order_by(_runs.c.id.desc()).limit(bindparam("last"))
_RUNS_BY_ID = select(*_RUN_COLUMNS).where(_runs.c.id.in_(bindparam("run_ids", expanding=True)))
_RUN_REPORTS = select(*(_runs.c[name] for name in RunReportRow._fields)).where(
    _runs.c.id.in_(bindparam("run_ids", expanding=True))
)


def current_run(*, connection: Connection) -> RunRow | None:
    """The newest committed run, or None on an empty store (every request asks)."""
    rows = point_rows(connection, _CURRENT_RUN, {})
    return RunRow(*rows[0]) if rows else None


def last_runs(*, connection: Connection, last: int) -> list[RunRow]:
    """The `last` newest runs of any status, newest first."""
    return [RunRow(*row) for row in connection.execute(_LAST_RUNS, {"last": last})]


def runs_by_id(*, connection: Connection, run_ids: list[int]) -> list[RunRow]:
    return [RunRow(*row) for row in connection.execute(_RUNS_BY_ID, {"run_ids": run_ids})]


def run_reports(*, connection: Connection, run_ids: list[int]) -> list[RunReportRow]:
    """Parameters, quality report and timings of runs."""
    rows = connection.execute(_RUN_REPORTS, {"run_ids": run_ids})
    return [RunReportRow(*row) for row in rows]


def kept_run(*, connection: Connection, run_id: int | None) -> RunRow:
    """A committed run the store still keeps (the current one when `run_id` is None); NotFound
    saying why otherwise (no such run, pruned, failed, or not committed yet)."""
    if run_id is None:
        run = current_run(connection=connection)
        if run is None:
            raise NotFound("the store has no committed run yet; run `portrait run` first")
        return run
    rows = runs_by_id(connection=connection, run_ids=[run_id])
    if not rows:
        raise NotFound(f"there is no run {run_id}; `portrait runs` lists them")
    run = rows[0]
    if run.status == "pruned":
        raise NotFound(
            f"run {run_id} was pruned: the store keeps the newest PORTRAIT_KEEP_RUNS committed"
            " runs; `portrait runs` lists them"
        )
    if run.status != "committed":
        raise NotFound(f"run {run_id} is {run.status}, not committed: it holds no tags")
    return run


def run_file(*, connection: Connection, run_id: int, name: str) -> bytes | None:
    """A file run `run_id` keeps (`RunFile`), or None when it keeps none of that name."""
    statement = select(_files.c.content).where(_files.c.run_id == run_id, _files.c.name == name)
    content = connection.execute(statement).scalar()
    return None if content is None else bytes(content)
