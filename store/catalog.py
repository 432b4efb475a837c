"""Reads of a run's tag catalog: the keys with their kinds and definitions, and how many persons
hold each value (from the run's stored bitmaps)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select

from store.audiences import bitmaps
from store.models import TagDefinition, table_of
from store.point_reads import point_rows

_definitions = table_of(TagDefinition)


class TagDefinitionRow(NamedTuple):
    key: str
    kind: str
    description: str
    source: str
    value_type: str
    values: list[str]


class TagValueCounts(NamedTuple):
    top: list[tuple[str, int]]  # (value, persons), most persons first
    distinct_values: int
    tag_rows: int  # persons with the key, counted once per value they have


_TAG_KINDS = select(_definitions.c.key, _definitions.c.kind).where(
    _definitions.c.run_id == bindparam("run_id")
)
_TAG_DEFINITIONS = (
    select(*(_definitions.c[name] for name in TagDefinitionRow._fields))
    .where(_definitions.c.run_id == bindparam("run_id"))
    .order_by(_definitions.c.key)
)



def tag_kinds(*, connection: Connection, run_id: int) -> dict[str, str]:
    """The kind of each key in the run's catalog."""
    return {key: kind for key, kind in point_rows(connection, _TAG_KINDS, {"run_id": run_id})}


def tag_definitions(*, connection: Connection, run_id: int) -> list[TagDefinitionRow]:
    """The run's tag catalog, ordered by key."""
    rows = connection.execute(_TAG_DEFINITIONS, {"run_id": run_id})
    return [TagDefinitionRow(*row) for row in rows]


def tag_value_counts(*, connection: Connection, run_id: int, key: str, top: int) -> TagValueCounts:
    """The `top` values of one tag key with the most persons (ties by value), and totals."""
    counts = bitmaps.value_counts(connection=connection, run_id=run_id, key=key)
    return TagValueCounts(
        top=counts[:top], distinct_values=len(counts), tag_rows=sum(n for _, n in counts)
    )

