"""Compact keys: a run's item ids, categories and brands as DuckDB ENUM types.

The events and order items a run keeps with their persons (p_events, p_items) hold these
columns as ENUMs: one small integer per value instead of the text, so that the groupings and
windows by person and category, brand or item (preferences, categories browsed, baskets) run
on integers, and the tables take a fraction of the memory. Each type lists its values sorted,
so that ordering by an ENUM is ordering by its text: ties between categories break as before.
Ibis reads an ENUM as a string, comparisons with text cast it back, and a table made from them
by Ibis is text again: strings come back wherever a tag or the store reads a value.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
from ibis.backends.duckdb import Backend as DuckDBBackend

ENCODED = ("item_id", "category", "brand")


def define(con: DuckDBBackend, sources: Sequence[ir.Table]) -> dict[str, str]:
    """One ENUM type per column of `ENCODED` the `sources` hold: every value any of them has,
    sorted. Returns column -> type name."""
    # Each source's distinct combinations of the columns, in one pass over it (a few thousand
    # rows for millions of events): a pass per column took three times as long.
    seen: dict[str, ir.Table] = {}
    for number, source in enumerate(sources):
        columns = [c for c in ENCODED if c in source.columns]
        if columns:
            name = f"portrait_keys_{number}"
            distinct = source.select(*columns).distinct()
            seen[name] = con.create_table(name, distinct, overwrite=True)
    types: dict[str, str] = {}
    for column in ENCODED:
        parts = [s.select(value=s[column]) for s in seen.values() if column in s.columns]
        if parts and _define_type(con, f"portrait_{column}", ibis.union(*parts, distinct=True)):
            types[column] = f"portrait_{column}"
    for name in seen:
        con.drop_table(name)
    return types


def _define_type(con: DuckDBBackend, name: str, values: ir.Table) -> bool:
    """The ENUM type `name` of the sorted non-NULL `values` (a `value` column); none when
    there are none (DuckDB cannot read a table of an empty ENUM): then the column stays text."""
    listed = f"{name}_values"
    kept = con.create_table(listed, values.filter(values.value.notnull()), overwrite=True)
    con.raw_sql(f"DROP TYPE IF EXISTS {name}")
    defined = bool(kept.count().to_pyarrow().as_py())
    if defined:
        con.raw_sql(f"CREATE TYPE {name} AS ENUM (SELECT value FROM {listed} ORDER BY value)")
    con.drop_table(listed)
    return defined


def keep_encoded(
    con: DuckDBBackend, name: str, table: ir.Table, types: dict[str, str]
) -> ir.Table:
    """`table` materialised as `name`, its columns of `types` as their ENUM types."""
    casts = [f'CAST("{c}" AS {t}) AS "{c}"' for c, t in types.items() if c in table.columns]
    if not casts:
        return con.create_table(name, table, overwrite=True)
    # A view first: Ibis registers the in-memory tables a query reads (an empty source).
    query = f"{name}_query"
    con.create_view(query, table, overwrite=True)
    replaced = f"REPLACE ({', '.join(casts)})"
    con.raw_sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * {replaced} FROM {query}")
    con.drop_view(query)
    return con.table(name)
