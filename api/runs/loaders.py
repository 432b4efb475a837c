"""DataLoaders for runs."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store.runs import reads as run_reads
from store.runs.reads import RunReportRow, RunRow


def _run_by_id(*, connection: Connection) -> DataLoader[int, RunRow | None]:
    """Runs by id, of any status; None for ids the store does not hold."""

    async def load(run_ids: list[int]) -> list[RunRow | None]:
        rows = run_reads.runs_by_id(connection=connection, run_ids=run_ids)
        by_id = {row.id: row for row in rows}
        return [by_id.get(run_id) for run_id in run_ids]

    return DataLoader(load_fn=load)


def _run_report(*, connection: Connection) -> DataLoader[int, RunReportRow | None]:
    """Parameters, quality report and timings by run id."""

    async def load(run_ids: list[int]) -> list[RunReportRow | None]:
        rows = run_reads.run_reports(connection=connection, run_ids=run_ids)
        by_id = {row.id: row for row in rows}
        return [by_id.get(run_id) for run_id in run_ids]

    return DataLoader(load_fn=load)


class RunLoaders:
    """The DataLoaders of runs for one request, each made on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection  # keyed by run id: any run's, not only the request's

    @cached_property
    def run_by_id(self) -> DataLoader[int, RunRow | None]:
        return _run_by_id(connection=self._connection)

    @cached_property
    def run_report(self) -> DataLoader[int, RunReportRow | None]:
        return _run_report(connection=self._connection)
