"""Compact keys: item ids, categories and brands kept as ENUMs that read and sort as their text."""

from __future__ import annotations

import ibis
import pyarrow as pa

from tagging.dictionaries import define, keep_encoded
from tagging.ingest import connect

EVENTS = pa.table(
    {
        "person_idx": pa.array([0, 0, 1, 1], pa.int64()),
        "category": ["toys", "Baby", None, "toys"],
        "brand": pa.array([None, None, None, None], pa.string()),
    }
)
ITEMS = pa.table({"item_id": ["i2", "i10"], "category": ["baby", "école"]})


def test_each_column_becomes_an_enum_of_every_value_sorted_as_text() -> None:
    con = connect()
    try:
        types = define(con, [ibis.memtable(EVENTS), ibis.memtable(ITEMS)])
        ranges = {
            column: con.raw_sql(f"SELECT enum_range(NULL::{name})").fetchone()[0]
            for column, name in types.items()
        }
    finally:
        con.disconnect()
    # A brand column of NULLs only stays text: DuckDB cannot read a table of an empty ENUM.
    assert ranges == {"item_id": ["i10", "i2"], "category": ["Baby", "baby", "toys", "école"]}


def test_an_encoded_table_reads_and_sorts_as_its_text() -> None:
    con = connect()
    try:
        types = define(con, [ibis.memtable(EVENTS), ibis.memtable(ITEMS)])
        kept = keep_encoded(con, "p_events", ibis.memtable(EVENTS), types)
        described = {row[0]: row[1] for row in con.raw_sql("DESCRIBE p_events").fetchall()}
        ordered = kept.order_by([kept.category, kept.person_idx]).to_pyarrow().to_pylist()
        matched = kept.filter(kept.category == "toys").count().to_pyarrow().as_py()
    finally:
        con.disconnect()
    assert described["category"].startswith("ENUM(")
    assert described["brand"] == "VARCHAR"
    assert [(r["person_idx"], r["category"]) for r in ordered] == [
        (0, "Baby"),
        (0, "toys"),
        (1, "toys"),
        (1, None),
    ]
    assert matched == 2
