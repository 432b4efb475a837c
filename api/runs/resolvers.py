"""Resolvers of the run queries."""

from __future__ import annotations

from datetime import date

import strawberry

from api.context import Info
from api.errors import InvalidInputError
from api.ids import id_number
from api.runs.loaders import RunLoaders
from api.runs.starter import RunInProgress
from api.runs.types import Health, Run, RunInProgressError, StartRunResult, StartRunSuccess
from store.errors import InputError, NotFound
from store.runs import reads as run_reads

MAX_RUNS = 100


def runs(info: Info, *, last: int) -> list[Run]:
    if not 1 <= last <= MAX_RUNS:
        raise InputError(f"last must be between 1 and {MAX_RUNS}, got {last}")
    rows = run_reads.last_runs(connection=info.context.connection, last=last)
    return [Run.from_row(row) for row in rows]


async def run(info: Info, *, run_id: strawberry.ID) -> Run | None:
    number = id_number(str(run_id))
    if number is None:
        raise InputError(f"run id {str(run_id)!r} is not a run number such as '12'")
    row = await info.context.loaders(RunLoaders).run_by_id.load(number)
    return None if row is None else Run.from_row(row)


def current_run(info: Info) -> Run | None:
    row = info.context.run
    return None if row is None else Run.from_row(row)


def health(info: Info) -> Health:
    run_id = info.context.run_id
    return Health(status="ok", run_id=None if run_id is None else strawberry.ID(str(run_id)))


async def start_run(info: Info, *, source: str, as_of: date | None) -> StartRunResult:
    info.context.require_live("admin", what="startRun")
    try:
        run_id = await info.context.starter.start(source=source, as_of=as_of)
    except RunInProgress as error:
        return RunInProgressError(message=str(error), field=None)
    except InputError as error:
        return InvalidInputError.of(error, field="source")
    row = await info.context.loaders(RunLoaders).run_by_id.load(run_id)
    if row is None:  # recorded a moment ago: only a store emptied meanwhile could lose it
        raise NotFound(f"run {run_id} is not in the store")
    return StartRunSuccess(run=Run.from_row(row))
