"""DataLoaders for the tag catalog."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from strawberry.dataloader import DataLoader

from store import api_queries
from store.api_queries import TagDefinitionRow


def catalog(*, engine: Engine) -> DataLoader[int, dict[str, TagDefinitionRow]]:
    """Each run's tag definitions by key (a few dozen rows per run)."""

    async def load(run_ids: list[int]) -> list[dict[str, TagDefinitionRow]]:
        with engine.connect() as connection:
            return [
                {
                    row.key: row
                    for row in api_queries.tag_definitions(connection=connection, run_id=run_id)
                }
                for run_id in run_ids
            ]

    return DataLoader(load_fn=load)
