"""DataLoaders for personas."""

from __future__ import annotations

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import persona_queries
from store.persona_queries import Persona


def personas(*, connection: Connection) -> DataLoader[int, dict[str, Persona]]:
    """Each run's personas by name, largest first."""

    async def load(run_ids: list[int]) -> list[dict[str, Persona]]:
        return [
            {p.name: p for p in persona_queries.personas(connection=connection, run_id=run_id)}
            for run_id in run_ids
        ]

    return DataLoader(load_fn=load)
