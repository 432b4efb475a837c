"""The run queries, merged into the schema by `api.schema`."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from api.context import Info
from api.runs import resolvers
from api.runs.types import Health, Run, StartRunResult

DEFAULT_RUNS = 10


@strawberry.type
class RunQueries:
    @strawberry.field(description="The newest runs of any status, newest first (at most 100).")
    def runs(self, info: Info, last: int | None = DEFAULT_RUNS) -> list[Run]:
        return resolvers.runs(info, last=DEFAULT_RUNS if last is None else last)

    @strawberry.field(description="One run by id; null if the store holds no such run.")
    async def run(self, info: Info, id: strawberry.ID) -> Run | None:
        return await resolvers.run(info, run_id=id)

    @strawberry.field(description="The committed run the API serves; null on an empty store.")
    def current_run(self, info: Info) -> Run | None:
        return resolvers.current_run(info)

    @strawberry.field(description="Whether the service is up, and the run it serves.")
    def health(self, info: Info) -> Health:
        return resolvers.health(info)


SOURCE = 'The folder\'s path inside PORTRAIT_SOURCE_ROOT, e.g. "shop-2026-07".'
AS_OF = "Tag as of this day (the whole day, UTC); by default, up to the end of the data."


@strawberry.type
class RunMutations:
    @strawberry.mutation(
        description=(
            "Start a tagging run on a folder under the server's source root (admin only). "
            "Answers once the run is recorded as RUNNING; follow it with run(id). One run at a "
            "time: while one is working the answer is a RunInProgressError that names it."
        )
    )
    async def start_run(
        self,
        info: Info,
        source: Annotated[str, strawberry.argument(description=SOURCE)],
        as_of: Annotated[date | None, strawberry.argument(description=AS_OF)] = None,
    ) -> StartRunResult:
        return await resolvers.start_run(info, source=source, as_of=as_of)
