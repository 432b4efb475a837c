"""Resolvers of personas and drift."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.personas.types import DriftType, Persona
from store import drift
from store.errors import InputError


async def personas(info: Info) -> list[Persona]:
    if info.context.run_id is None:
        return []
    found = await info.context.loaders.personas.load(info.context.run_id)
    return [
        Persona.from_record(record, disclosure=info.context.disclosure) for record in found.values()
    ]


async def persona(info: Info, *, persona_id: strawberry.ID) -> Persona | None:
    if info.context.run_id is None:
        return None
    found = await info.context.loaders.personas.load(info.context.run_id)
    record = next((r for r in found.values() if str(r.persona_id) == str(persona_id)), None)
    return (
        None if record is None else Persona.from_record(record, disclosure=info.context.disclosure)
    )


def drift_of(info: Info, *, run_id: strawberry.ID | None) -> DriftType | None:
    """The drift report of a run (the current one by default); null for a first run."""
    if run_id is None:
        if info.context.run_id is None:
            return None
        wanted = info.context.run_id
    else:
        try:
            wanted = int(run_id)
        except ValueError:
            raise InputError(f"runId {run_id!r} is not a run id (a number)") from None
    report = drift.stored(connection=info.context.connection, run_id=wanted)
    return None if report is None else DriftType.from_report(report)
