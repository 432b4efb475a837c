"""The parts of a run's snapshot that are read from DuckDB while the store writes them: each a
materialised table, handed over as `Batches` in its order, so that no part is ever held whole
in pandas."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from store.snapshot.bulk import WRITE_CHUNK_ROWS, Batches, Frame
from store.snapshot.write import Snapshot
from tagging import features, forgetting, tags
from tagging.basket import Mined
from tagging.clean import Step
from tagging.identity import PERSON as P
from tagging.ingest import cursor, memtable
from tagging.run.options import RunOptions


def keep(con: DuckDBBackend, name: str, table: ir.Table) -> ir.Table:
    """`table` materialised in DuckDB as `name` (replacing one of that name)."""
    return con.create_table(name, table, overwrite=True)


def count(table: ir.Table) -> int:
    return int(table.count().to_pyarrow().as_py())


def batches(
    con: DuckDBBackend, table: ir.Table, shape: Callable[[pa.RecordBatch], Frame] | None = None
) -> Batches:
    """A materialised table as rows the store reads in pieces, in the table's order."""

    def read() -> Iterator[Frame]:
        # DuckDB's reader directly: ibis's to_pyarrow_batches calls an API DuckDB 1.5
        # deprecates. A table scan returns rows in the order they were inserted. Each read
        # has its own cursor: the store reads two tables at once, on two threads.
        with cursor(con) as own:
            result = own.con.execute(f"SELECT * FROM {table.get_name()}")
            for batch in result.to_arrow_reader(WRITE_CHUNK_ROWS):
                # Arrow batches as they are: the store makes Python values of them in half
                # the time it takes through pandas.
                yield batch if shape is None else shape(batch)

    return Batches(count(table), read, source=table.get_name())


def keep_only(con: DuckDBBackend, snapshot: Snapshot) -> list[str]:
    """Drop every table of the run's database that the snapshot's rows are not read from, and
    say which went: at a million users DuckDB holds its memory limit (5 GB) of them when the
    write begins, and the write's own arrays came on top of that."""
    read = {
        rows.source.rsplit(".", 1)[-1]  # ibis names a table memory.main.<name>
        for rows in (
            snapshot.persons,
            snapshot.identifiers,
            snapshot.tags,
            snapshot.features,
            snapshot.quarantine,
            snapshot.recommendations,
        )
        if isinstance(rows, Batches) and rows.source
    }
    found = con.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    spent = sorted(name for (name,) in found if name not in read)
    for name in spent:
        con.drop_table(name)
    return spent


def person_rows(con: DuckDBBackend, persons: pd.DataFrame, people: ir.Table | None) -> Batches:
    """person_idx, person_id and the primary account's attributes (age at as_of), made a
    chunk at a time as the store writes them: a million persons' dicts held at once took
    about a gigabyte at the run's peak."""
    rows = keep(con, "person_ids", memtable(persons[[P, "person_id"]]))
    if people is not None:
        attributes = people.select(
            P,
            "age",
            "gender",
            "city",
            "region",
            "occupation",
            "member_level",
            age_band=tags.age_band(people.age),
            registered_at=people.registered_at.cast("string"),
        )
        rows = rows.left_join(attributes, P).drop(f"{P}_right")
    return batches(con, keep(con, "person_rows", rows.order_by(P)), _with_attributes)


def feature_rows(con: DuckDBBackend, wide: ir.Table) -> Batches:
    """Each person's features, rounded as the store keeps them, a chunk at a time."""
    return batches(con, wide, _stored_features)


def quarantine(
    con: DuckDBBackend,
    steps: Mapping[str, Step],
    options: RunOptions,
    forgotten: pd.DataFrame | None,
) -> tuple[Batches, int]:
    """Every source's quarantined rows, in (source, row) order; without a suppression list's
    rows, which are counted (the second value) but not kept."""
    quarantined = ibis.union(*(s.quarantined for s in steps.values()))
    withheld = 0
    if options.suppressed:
        everything = keep(con, "quarantine_all", quarantined)
        quarantined = forgetting.quarantine_without(
            everything,
            listed=options.suppressed,
            id_key=options.id_key,
            forgotten=forgotten,
            materialise=lambda name, table: keep(con, name, table),
        )
        withheld = count(everything) - count(quarantined)
    ordered = keep(con, "quarantine", quarantined.order_by(["source", "row_number"]))
    return batches(con, ordered), withheld


def catalog_items(products: ir.Table | None, items: ir.Table, mined: Mined) -> pd.DataFrame:
    """Name and category of every item a rule or a recommendation mentions."""
    named = mined.mentioned_items()
    wanted = named.union(mined.recommendations.select(item_id="item_id")).distinct()
    seen = items.select("item_id", "category").distinct()
    seen = seen.mutate(_n=ibis.row_number().over(group_by="item_id", order_by="category"))
    known = wanted.left_join(seen.filter(seen._n == 0).drop("_n"), "item_id")
    known = known.select("item_id", "category", name=ibis.null("string"))
    if products is not None:
        products = products.select("item_id", _name=ibis._.name, _category=ibis._.category)
        known = known.left_join(products, "item_id").select(
            "item_id",
            name=ibis._._name,
            category=ibis._.category.fill_null(ibis._._category),
        )
    return known.order_by("item_id").to_pyarrow().to_pandas()


def _with_attributes(rows: pa.RecordBatch) -> pa.RecordBatch:
    """person_idx, person_id and a struct of the other columns, which the store writes as a
    dict (missing values as None) without a Python object per value on the way."""
    names = [n for n in rows.schema.names if n not in (P, "person_id")]
    if names:
        attributes = pa.StructArray.from_arrays([rows.column(n) for n in names], names=names)
    else:
        attributes = pa.array([{}] * rows.num_rows, pa.struct([]))
    return pa.RecordBatch.from_arrays(
        [rows.column(P), rows.column("person_id"), attributes], names=[P, "person_id", "attributes"]
    )


def _stored_features(wide: pa.RecordBatch) -> pd.DataFrame:
    return features.stored_features(wide.to_pandas())
