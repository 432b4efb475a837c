"""DataLoaders for runs."""

from __future__ import annotations

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import api_queries
from store.api_queries import RunReportRow, RunRow


def run_by_id(*, connection: Connection) -> DataLoader[int, RunRow | None]:
    """Runs by id, of any status; None for ids the store does not hold."""

    async def load(run_ids: list[int]) -> list[RunRow | None]:
        rows = api_queries.runs_by_id(connection=connection, run_ids=run_ids)
        by_id = {row.id: row for row in rows}
        return [by_id.get(run_id) for run_id in run_ids]

    return DataLoader(load_fn=load)


def run_report(*, connection: Connection) -> DataLoader[int, RunReportRow | None]:
    """Parameters, quality report and timings by run id."""

    async def load(run_ids: list[int]) -> list[RunReportRow | None]:
        rows = api_queries.run_reports(connection=connection, run_ids=run_ids)
        by_id = {row.id: row for row in rows}
        return [by_id.get(run_id) for run_id in run_ids]

    return DataLoader(load_fn=load)
