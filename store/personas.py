"""Reads of a run's personas."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from store.models import PersonaRow, table_of

_personas = table_of(PersonaRow)


class Persona(NamedTuple):
    persona_id: int
    name: str
    description: str
    size: int
    share: float
    top_tags: list[dict[str, Any]]
    centroid: dict[str, float]


_COLUMNS = [_personas.c[name] for name in Persona._fields]


def personas(*, connection: Connection, run_id: int) -> list[Persona]:
    """The run's personas, largest first."""
    statement = (
        select(*_COLUMNS)
        .where(_personas.c.run_id == run_id)
        .order_by(_personas.c.size.desc(), _personas.c.persona_id)
    )
    return [Persona(*row) for row in connection.execute(statement)]
