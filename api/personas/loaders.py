"""DataLoaders for personas."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import personas as persona_queries
from store.personas import Persona


def _personas(*, connection: Connection) -> DataLoader[int, dict[str, Persona]]:
    """Each run's personas by name, largest first."""

    async def load(run_ids: list[int]) -> list[dict[str, Persona]]:
        return [
            {p.name: p for p in persona_queries.personas(connection=connection, run_id=run_id)}
            for run_id in run_ids
        ]

    return DataLoader(load_fn=load)


class PersonaLoaders:
    """The DataLoaders of personas for one request, each made on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection  # keyed by run id: any run's, not only the request's

    @cached_property
    def personas(self) -> DataLoader[int, dict[str, Persona]]:
        return _personas(connection=self._connection)
