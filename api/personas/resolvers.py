"""Resolvers of personas and drift."""

from __future__ import annotations

from collections.abc import Hashable

import strawberry

from api.audiences import selections
from api.context import Info
from api.counts import Counted
from api.ids import id_number
from api.personas.loaders import PersonaLoaders
from api.personas.types import PERSONA_KEY, DriftType, Persona, questions_of
from store.errors import InputError
from store.personas import Persona as PersonaRecord
from store.runs import drift
from store.runs.reads import RunRow


async def personas(info: Info) -> list[Persona]:
    if info.context.run is None:
        return []
    by_name = await info.context.loaders(PersonaLoaders).personas.load(info.context.run.id)
    found = list(by_name.values())
    refused = await _refused(info, info.context.run, found)
    disclosure = info.context.disclosure
    return [Persona.from_record(r, disclosure=disclosure, refused=refused) for r in found]


async def persona(info: Info, *, persona_id: strawberry.ID) -> Persona | None:
    if info.context.run is None:
        return None
    found = await info.context.loaders(PersonaLoaders).personas.load(info.context.run.id)
    record = next((r for r in found.values() if str(r.persona_id) == str(persona_id)), None)
    if record is None:
        return None
    refused = await _refused(info, info.context.run, [record])
    return Persona.from_record(record, disclosure=info.context.disclosure, refused=refused)


async def _refused(info: Info, run: RunRow, records: list[PersonaRecord]) -> set[Hashable]:
    """The persona counts an operator's ledger would not give exactly (none for other roles)."""
    disclosure = info.context.disclosure
    if disclosure.exact:
        return set()
    members = await selections.value_persons(info, run, PERSONA_KEY, [r.name for r in records])
    refused: set[Hashable] = set()
    for record in records:
        size_question, tag_questions = questions_of(record)
        persona = members[record.name]
        if not disclosure.reveals(Counted(record.size, size_question, persona.copy)):
            refused.add(size_question)
        for tag, question in zip(record.top_tags, tag_questions, strict=True):
            found = await selections.value_persons(info, run, tag["key"], [tag["value"]])
            inside = persona & found[tag["value"]]
            if not disclosure.reveals(Counted(len(inside), question, inside.copy)):
                refused.add(question)
    return refused


def drift_of(info: Info, *, run_id: strawberry.ID | None) -> DriftType | None:
    """The drift report of a run (the current one by default); null for a first run."""
    if run_id is None:
        if info.context.run_id is None:
            return None
        wanted = info.context.run_id
    else:
        number = id_number(str(run_id))
        if number is None:
            raise InputError(f"runId {run_id!r} is not a run id (a number)")
        wanted = number
    report = drift.stored(connection=info.context.connection, run_id=wanted)
    return None if report is None else DriftType.from_report(report)
