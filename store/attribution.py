"""A run's marketing attribution: its stored report and the touches and orders it kept."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from store import basket as basket_queries
from store.models import RunFile, table_of

ATTRIBUTION_FILE = "attribution.parquet"
_files = table_of(RunFile)


def report(*, connection: Connection, run_id: int) -> dict[str, Any] | None:
    """Every model's credit per channel and campaign, and the holdouts (None before touches
    were attributed)."""
    return basket_queries.report(connection=connection, run_id=run_id, section="attribution")


def kept_file(*, connection: Connection, run_id: int) -> bytes | None:
    """The run's touches and orders (Parquet; tagging.attribution.inputs.read_kept), or None."""
    statement = select(_files.c.content).where(
        _files.c.run_id == run_id, _files.c.name == ATTRIBUTION_FILE
    )
    content = connection.execute(statement).scalar()
    return None if content is None else bytes(content)
