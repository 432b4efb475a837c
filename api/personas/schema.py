"""The persona and drift queries, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.personas import resolvers
from api.personas.types import DriftType, Persona


@strawberry.type
class PersonaQueries:
    @strawberry.field(description="The current run's K-Means personas, largest first.")
    async def personas(self, info: Info) -> list[Persona]:
        return await resolvers.personas(info)

    @strawberry.field(description="One persona of the current run; null if there is none.")
    async def persona(self, info: Info, id: strawberry.ID) -> Persona | None:
        return await resolvers.persona(info, persona_id=id)

    @strawberry.field(
        description=(
            "How every tag key's distribution moved against the previous committed run (PSI), "
            "for `runId` or the current run; null for a first run."
        )
    )
    def drift(self, info: Info, run_id: strawberry.ID | None = None) -> DriftType | None:
        return resolvers.drift_of(info, run_id=run_id)
