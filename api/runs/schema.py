"""The run queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.runs import resolvers
from api.runs.types import Health, Run

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
