"""One tagging run from start to end: the stages inside the store's run bookkeeping (begun,
committed or failed), then drift and the saved audiences' sizes on the committed run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from store import suppressions
from store.runs import drift
from store.runs.drift import DriftReport
from store.snapshot.bulk import row_count
from store.snapshot.write import begin_run, commit_snapshot, fail_run
from tagging.catalog_rules import built_in_rules, load_rules, with_analyst_rules
from tagging.ingest import find_sources
from tagging.run.options import RunOptions
from tagging.run.pipeline import Pipeline, Progress
from tagging.shop import SHOP_FILE, load_shop


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
    # Tag keys against the previous committed run; None for a first run.
    drift: DriftReport | None = None


def run_tagging(
    *, engine: Engine, options: RunOptions, progress: Progress | None = None
) -> RunResult:
    """Run every stage and commit the snapshot; on any failure the previous run stays current."""
    own = load_rules(options.catalog) if options.catalog else []
    rules = with_analyst_rules(built_in_rules(), own)
    shop = load_shop(options.source / SHOP_FILE, options.catalog).with_overrides(
        timezone=options.timezone, encoding=options.encoding
    )
    paths = find_sources(options.source)
    with engine.connect() as connection:
        listed = suppressions.digests(connection=connection)
    options = replace(options, suppressed=options.suppressed | listed)
    params = {**options.params(), "shop": shop.as_dict()}
    run_id = begin_run(engine=engine, source=str(options.source), params=params)
    try:
        with Pipeline(options, rules, shop, progress) as pipeline:
            snapshot = pipeline.execute(paths)
            commit_snapshot(
                engine=engine, run_id=run_id, snapshot=snapshot, keep_runs=options.keep_runs
            )
    except BaseException as error:
        fail_run(engine=engine, run_id=run_id, error=f"{type(error).__name__}: {error}")
        raise
    if progress:
        progress("write", f"run {run_id} committed", snapshot.timings["write"])
    # A person forgotten while this run was working is in it: forget them there too.
    suppressions.forget_late(engine=engine, run_id=run_id, known=listed, id_key=options.id_key)
    drifted = _measure_drift(engine, run_id, options.drift_threshold, progress)
    audiences = _report_saved_audiences(snapshot.audiences, run_id, progress)
    assert snapshot.as_of is not None
    return RunResult(
        run_id,
        snapshot.as_of,
        row_count(snapshot.persons),
        row_count(snapshot.tags),
        snapshot.quality,
        snapshot.timings,
        snapshot.reports,
        audiences,
        drifted,
    )


def _measure_drift(
    engine: Engine, run_id: int, threshold: float, progress: Progress | None
) -> DriftReport | None:
    started = time.perf_counter()
    report = drift.measure(engine=engine, run_id=run_id, threshold=threshold)
    if progress and report is not None:
        flagged = [d.key for d in report.keys if d.flagged]
        note = f"{len(flagged)} of {len(report.keys)} keys drifted since run "
        note += f"{report.previous_run_id}" + (f": {', '.join(flagged)}" if flagged else "")
        progress("drift", note, time.perf_counter() - started)
    return report


def _report_saved_audiences(
    audiences: dict[str, int | str], run_id: int, progress: Progress | None
) -> dict[str, int | str]:
    """The saved audiences' sizes the commit recorded (with who entered and left them)."""
    if progress and audiences:
        counted = sum(isinstance(size, int) for size in audiences.values())
        note = f"{counted} of {len(audiences)} saved audiences counted on run {run_id}"
        progress("audiences", note, 0.0)
    return audiences
