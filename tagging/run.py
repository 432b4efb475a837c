"""One tagging run: source files in, a committed snapshot in the store out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from store import saved_audiences
from store.snapshot import begin_run, commit_snapshot, fail_run, row_count
from tagging.catalog import load_rules
from tagging.ingest import find_sources
from tagging.options import RunOptions, end_of_day
from tagging.pipeline import Pipeline, Progress

__all__ = ["RunOptions", "RunResult", "end_of_day", "run_tagging"]


@dataclass(frozen=True)
class RunResult:
    run_id: int
    as_of: datetime
    persons: int
    tag_rows: int
    quality: dict[str, Any]
    timings: dict[str, float]
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Saved audiences counted on this run: size, or why one could not be counted.
    audiences: dict[str, int | str] = field(default_factory=dict)


def run_tagging(
    *, engine: Engine, options: RunOptions, progress: Progress | None = None
) -> RunResult:
    """Run every stage and commit the snapshot; on any failure the previous run stays current."""
    rules = load_rules(options.catalog) if options.catalog else []
    paths = find_sources(options.source)
    run_id = begin_run(
        engine=engine, source=str(options.source), as_of=datetime.now(UTC), params=options.params()
    )
    try:
        with Pipeline(options, rules, progress) as pipeline:
            snapshot = pipeline.execute(paths)
            commit_snapshot(engine=engine, run_id=run_id, snapshot=snapshot)
    except BaseException as error:
        fail_run(engine=engine, run_id=run_id, error=f"{type(error).__name__}: {error}")
        raise
    if progress:
        progress("write", f"run {run_id} committed", snapshot.timings["write"])
    started = time.perf_counter()
    audiences = saved_audiences.measure_all(engine=engine, run_id=run_id)
    if progress and audiences:
        counted = sum(isinstance(size, int) for size in audiences.values())
        note = f"{counted} of {len(audiences)} saved audiences counted on run {run_id}"
        progress("audiences", note, time.perf_counter() - started)
    assert snapshot.as_of is not None
    return RunResult(
        run_id,
        snapshot.as_of,
        len(snapshot.persons),
        row_count(snapshot.tags),
        snapshot.quality,
        snapshot.timings,
        snapshot.reports,
        audiences,
    )
