"""`portrait migrate`: a store written by the layout before tag store v2, made current.

That layout kept one SQL row per tag and numbered persons afresh in each run, so its runs'
tags cannot become bitmaps of stable person numbers without the shop's data: they are dropped
and their runs listed as pruned. Everything that is not a run's output stays: API keys and
their events, saved audiences with their versions, changes and sizes, the audit log, and the
suppression list of forgotten persons (which the next run must respect). One transaction.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Connection, inspect, update
from sqlalchemy.engine import Engine

from store.db import OLD_LAYOUT, make_engine, unchecked_engine
from store.models import Run, table_of
from store.runs.pruning import PER_RUN, PRUNED

_runs = table_of(Run)


class Migrated(NamedTuple):
    dropped: list[str]  # the old layout's tables
    pruned: int  # committed runs whose tags went with them


def migrate(url: str) -> Migrated:
    """Convert the store at `url` (a no-op on a store already in this layout)."""
    engine = unchecked_engine(url)
    try:
        with engine.begin() as connection:
            found = _old_tables(connection)
            pruned = _convert(connection, found) if found else 0
    finally:
        engine.dispose()
    make_engine(url).dispose()  # the new tables and the views
    return Migrated(found, pruned)


def _old_tables(connection: Connection) -> list[str]:
    tables = set(inspect(connection).get_table_names())
    old = [t for t in OLD_LAYOUT if t in tables]  # the quarantine was a table then
    if old and "person_identifiers" in tables:
        columns = {c["name"] for c in inspect(connection).get_columns("person_identifiers")}
        if "run_id" in columns:  # identifiers were kept per run then
            old.append("person_identifiers")
    return old


def _convert(connection: Connection, old: list[str]) -> int:
    for table in old:
        connection.exec_driver_sql(f"DROP TABLE {table}")
    _add_columns(connection)
    tables = set(inspect(connection).get_table_names())
    for per_run in PER_RUN:
        if per_run.name in tables:
            connection.execute(per_run.delete())
    done = connection.execute(
        update(_runs).where(_runs.c.status == "committed").values(status=PRUNED)
    )
    return int(done.rowcount)


def _add_columns(connection: Connection) -> None:
    """The columns this layout added to tables that stay."""
    json_list = "JSON NOT NULL DEFAULT '[]'"
    added = {
        "runs": [("stored_bytes", "INTEGER NOT NULL DEFAULT 0"), ("feature_names", json_list)],
        "audience_sizes": [("entered", "INTEGER"), ("left", "INTEGER")],
    }
    quote = connection.dialect.identifier_preparer.quote
    for table, columns in added.items():
        have = {c["name"] for c in inspect(connection).get_columns(table)}
        for name, kind in columns:
            if name not in have:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {quote(name)} {kind}")


def needs_migration(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(_old_tables(connection))
