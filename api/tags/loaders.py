"""DataLoaders for the tag catalog."""

from __future__ import annotations

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import api_queries
from store.api_queries import TagDefinitionRow


def catalog(*, connection: Connection) -> DataLoader[int, dict[str, TagDefinitionRow]]:
    """Each run's tag definitions by key (a few dozen rows per run)."""

    async def load(run_ids: list[int]) -> list[dict[str, TagDefinitionRow]]:
        return [
            {row.key: row for row in api_queries.tag_definitions(connection=connection, run_id=r)}
            for r in run_ids
        ]

    return DataLoader(load_fn=load)
