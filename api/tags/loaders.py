"""DataLoaders for the tag catalog."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy import Connection
from strawberry.dataloader import DataLoader

from store import catalog
from store.catalog import TagDefinitionRow


def _catalog(*, connection: Connection) -> DataLoader[int, dict[str, TagDefinitionRow]]:
    """Each run's tag definitions by key (a few dozen rows per run)."""

    async def load(run_ids: list[int]) -> list[dict[str, TagDefinitionRow]]:
        return [
            {row.key: row for row in catalog.tag_definitions(connection=connection, run_id=r)}
            for r in run_ids
        ]

    return DataLoader(load_fn=load)


class TagLoaders:
    """The DataLoaders of the tag catalog for one request, each made on first use."""

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        self._connection = connection  # keyed by run id: any run's, not only the request's

    @cached_property
    def catalog(self) -> DataLoader[int, dict[str, TagDefinitionRow]]:
        return _catalog(connection=self._connection)
