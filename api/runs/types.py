"""GraphQL types of tagging runs: status, row counts, the quality report and timings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from api import auth
from api.basket.loaders import BasketLoaders
from api.basket.types import BasketReport
from api.context import Info
from api.errors import InvalidInputError, MutationError
from api.runs.loaders import RunLoaders
from store.runs.reads import RunReportRow, RunRow


@strawberry.enum(description="Where a run is in its life.")
class RunStatus(Enum):
    RUNNING = "running"
    COMMITTED = "committed"
    FAILED = "failed"
    PRUNED = strawberry.enum_value(
        "pruned", description="Committed, then pruned: beyond PORTRAIT_KEEP_RUNS, its tags gone."
    )


@strawberry.type(description="Rows of one source that a run dropped for one reason.")
class DropReason:
    reason: str
    rows: int


@strawberry.type(description="What a run did with one input source: rows read, kept, dropped.")
class SourceQuality:
    source: str
    read: int
    kept: int
    after_as_of: int = strawberry.field(description="Rows ignored for being after the as-of.")
    dropped: list[DropReason] = strawberry.field(description="Dropped rows by reason.")
    dropped_rows: int = strawberry.field(description="All dropped rows of this source.")

    @classmethod
    def from_report(cls, source: str, report: Mapping[str, Any]) -> SourceQuality:
        reasons = report.get("dropped") or {}
        dropped = [DropReason(reason=str(r), rows=int(n)) for r, n in reasons.items()]
        return cls(
            source=source,
            read=int(report.get("read", 0)),
            kept=int(report.get("kept", 0)),
            after_as_of=int(report.get("after_as_of", 0)),
            dropped=dropped,
            dropped_rows=sum(d.rows for d in dropped),
        )


@strawberry.type(description="Wall time one stage of a run took.")
class StageTiming:
    stage: str
    seconds: float


def _is_source_report(report: object) -> bool:
    # The quality JSON also carries other sections (model scores, ...): only per-source row
    # accounts have read/kept counts.
    return isinstance(report, Mapping) and ("read" in report or "kept" in report)


@strawberry.type(description="One tagging run over the shop's files.")
class Run:
    row: strawberry.Private[RunRow]
    id: strawberry.ID
    status: RunStatus
    as_of: datetime | None = strawberry.field(
        description="Nothing after this time was used: the data's last day, or the day asked "
        "for. Null until the run commits (while it reads its data, or when it failed first)."
    )
    started_at: datetime
    finished_at: datetime | None
    persons: int
    tag_rows: int
    stored_bytes: float = strawberry.field(
        description="What the run's rows take in the store (profiles, bitmaps, files); 0 once "
        "pruned. A Float: a run may pass what an Int holds."
    )

    @classmethod
    def from_row(cls, row: RunRow) -> Run:
        return cls(
            row=row,
            id=strawberry.ID(str(row.id)),
            status=RunStatus(row.status),
            as_of=row.as_of,
            started_at=row.started_at,
            finished_at=row.finished_at,
            persons=row.persons,
            tag_rows=row.tag_rows,
            stored_bytes=float(row.stored_bytes),
        )

    @strawberry.field(
        description="Where the run read its files; only the folder's name for a role that "
        "sees aggregates only (no server paths)."
    )
    def source(self, info: Info) -> str:
        return (
            self.row.source if auth.reaches(info.context.key, "analyst") else _name(self.row.source)
        )

    @strawberry.field(
        description="Why the run failed, if it did; null for a role that sees aggregates only "
        "(an error may quote the files)."
    )
    def error(self, info: Info) -> str | None:
        return self.row.error if auth.reaches(info.context.key, "analyst") else None

    @strawberry.field(description="When the run became visible; null unless committed.")
    def committed_at(self) -> datetime | None:
        return self.row.finished_at if self.status is RunStatus.COMMITTED else None

    @strawberry.field(description="Whether this is the run the API serves now.")
    def is_current(self, info: Info) -> bool:
        return info.context.run_id == self.row.id

    async def _report(self, info: Info) -> RunReportRow:
        report = await info.context.loaders(RunLoaders).run_report.load(self.row.id)
        return report or RunReportRow(id=self.row.id, params={}, quality={}, timings={})

    @strawberry.field(description="Per input source: rows read, kept, and dropped by reason.")
    async def quality(self, info: Info) -> list[SourceQuality]:
        return [
            SourceQuality.from_report(source, report)
            for source, report in (await self._report(info)).quality.items()
            if _is_source_report(report)
        ]

    @strawberry.field(description="Seconds per stage, in the order the stages ran.")
    async def timings(self, info: Info) -> list[StageTiming]:
        timings = (await self._report(info)).timings
        return [StageTiming(stage=stage, seconds=float(t)) for stage, t in timings.items()]

    @strawberry.field(description="What the basket stage mined; null for runs before it existed.")
    async def basket(self, info: Info) -> BasketReport | None:
        report = await info.context.loaders(BasketLoaders).basket_report.load(self.row.id)
        return None if report is None else BasketReport.from_report(report)

    @strawberry.field(
        description="The parameters the run was started with; paths as file names only for a "
        "role that sees aggregates only."
    )
    async def params(self, info: Info) -> JSON:
        params = (await self._report(info)).params
        return JSON(params if auth.reaches(info.context.key, "analyst") else _without_paths(params))


def _name(path: str) -> str:
    return PurePath(path).name if PurePath(path).is_absolute() else path


def _without_paths(value: Any) -> Any:
    """`value` with every absolute path in it cut to its last part."""
    if isinstance(value, str):
        return _name(value)
    if isinstance(value, dict):
        return {key: _without_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_paths(item) for item in value]
    return value


@strawberry.type(description="Whether the service is up, and the run it serves.")
class Health:
    status: str
    run_id: strawberry.ID | None = strawberry.field(
        description="The committed run being served; null on an empty store."
    )


@strawberry.type(description="The run, recorded as RUNNING; follow it with run(id).")
class StartRunSuccess:
    run: Run


@strawberry.type(description="A run is working (one at a time); the message names it.")
class RunInProgressError(MutationError):
    pass


StartRunResult = Annotated[
    StartRunSuccess | InvalidInputError | RunInProgressError, strawberry.union("StartRunResult")
]
