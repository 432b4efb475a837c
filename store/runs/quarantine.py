"""A run's quarantined source rows, kept as one zstd-compressed Parquet file of the run.

Nothing is dropped silently: each row that was not used is kept with its source, row number,
reason and raw values (JSON). They are written once, counted, read for a report and rewritten
only when a forgotten person's identifiers are taken out of them, so a columnar file suits them:
at 100k users a run's 164k rows took 78 MB as table rows and their index, and take a tenth of
that compressed (a million users' 1.6M rows would have been most of a run's store).
"""

from __future__ import annotations

import functools
import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, select, update

from store.models import RunFile, table_of
from store.snapshot.bulk import Batches, Rows

FILE = "quarantine.parquet"
# The user of the order an order line names (tagging.clean.sources.OrderItemCleaning): the line
# names no person itself. Files written before it was kept have no such column.
ORDER_USER = "order_user_id"
SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("row_number", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        (ORDER_USER, pa.string()),
    ]
)
_files = table_of(RunFile)


def packed(rows: Rows) -> bytes:
    """The rows (source, row_number, reason, raw, order_user_id: null when not given), in the
    order they come, as the run's file."""
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, SCHEMA, compression="zstd") as writer:
        frames = rows.read() if isinstance(rows, Batches) else iter([rows])
        for frame in frames:
            if isinstance(frame, pd.DataFrame):
                frame = pa.RecordBatch.from_pandas(frame, preserve_index=False)
            if frame.num_rows:
                writer.write_table(_complete(pa.Table.from_batches([frame])))
    return sink.getvalue()


def rows(*, connection: Connection, run_id: int) -> pd.DataFrame:
    """The run's quarantined rows: source, row_number, reason, raw, order_user_id (none for a
    pruned run)."""
    table = _table(connection, run_id)
    return (table if table is not None else SCHEMA.empty_table()).to_pandas()


def counts(*, connection: Connection, run_id: int) -> list[tuple[str, str, int]]:
    """(source, reason, rows) quarantined by the run, by source and reason."""
    frame = rows(connection=connection, run_id=run_id)
    grouped = frame.groupby(["source", "reason"]).size().reset_index(name="rows")
    return sorted(
        (str(source), str(reason), int(n)) for source, reason, n in grouped.itertuples(index=False)
    )


def drop_naming(*, connection: Connection, identifiers: list[str]) -> int:
    """Rewrite every kept run's file without the rows of a person with `identifiers`; how many
    rows went.

    A row goes when its raw values hold one of `identifiers` (as a JSON string), when it is an
    order line whose order's user is one of them, or when it is an order line of an order whose
    own quarantined row goes (files written before the order's user was kept).
    """
    if not identifiers:
        return 0
    runs = connection.execute(select(_files.c.run_id).where(_files.c.name == FILE)).scalars()
    return sum(_drop_naming(connection, run_id, identifiers) for run_id in sorted(runs))


def _drop_naming(connection: Connection, run_id: int, identifiers: list[str]) -> int:
    table = _table(connection, run_id)
    if table is None or not table.num_rows:
        return 0
    raw = table.column("raw")
    needles = [pc.match_substring(raw, json.dumps(i, ensure_ascii=False)) for i in identifiers]
    naming = functools.reduce(pc.or_, needles)
    of_user = pc.is_in(table.column(ORDER_USER), value_set=pa.array(identifiers, pa.string()))
    naming = pc.or_(naming, pc.fill_null(of_user, False))
    naming = pc.or_(naming, _lines_of_orders(table, naming))
    kept = table.filter(pc.invert(naming))
    if kept.num_rows == table.num_rows:
        return 0
    sink = io.BytesIO()
    pq.write_table(kept, sink, compression="zstd")
    connection.execute(
        update(_files)
        .where(_files.c.run_id == run_id, _files.c.name == FILE)
        .values(content=sink.getvalue())
    )
    return table.num_rows - kept.num_rows


def _lines_of_orders(table: pa.Table, going: pa.ChunkedArray) -> pa.Array:
    """Which rows are order lines of an order whose orders row is `going`."""
    source = table.column("source")
    orders = table.filter(pc.and_(going, pc.equal(source, "orders"))).column("raw")
    ids = {_order_id(raw) for raw in orders.to_pylist()} - {None}
    found = np.zeros(table.num_rows, dtype=bool)
    if ids:
        at = np.flatnonzero(pc.equal(source, "order_items").to_numpy(zero_copy_only=False))
        lines = table.column("raw").take(pa.array(at)).to_pylist()
        found[at] = [_order_id(raw) in ids for raw in lines]
    return pa.array(found)


def _order_id(raw: str | None) -> str | None:
    value = None if raw is None else json.loads(raw).get("order_id")
    return None if value is None else str(value)


def _table(connection: Connection, run_id: int) -> pa.Table | None:
    content = connection.execute(
        select(_files.c.content).where(_files.c.run_id == run_id, _files.c.name == FILE)
    ).scalar_one_or_none()
    return None if content is None else _complete(pq.read_table(io.BytesIO(content)))


def _complete(table: pa.Table) -> pa.Table:
    """`table` in SCHEMA's columns, an order user column of nulls added where it has none."""
    if ORDER_USER not in table.column_names:
        table = table.append_column(ORDER_USER, pa.nulls(table.num_rows, pa.string()))
    return table.select(SCHEMA.names).cast(SCHEMA)
