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

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, select, update

from store.models import RunFile, table_of
from store.snapshot.bulk import Batches, Rows

FILE = "quarantine.parquet"
SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("row_number", pa.int64()),
        ("reason", pa.string()),
        ("raw", pa.string()),
    ]
)
_files = table_of(RunFile)


def packed(rows: Rows) -> bytes:
    """The rows (source, row_number, reason, raw), in the order they come, as the run's file."""
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, SCHEMA, compression="zstd") as writer:
        frames = rows.read() if isinstance(rows, Batches) else iter([rows])
        for frame in frames:
            if isinstance(frame, pd.DataFrame):
                frame = pa.RecordBatch.from_pandas(frame, preserve_index=False)
            if frame.num_rows:
                writer.write_batch(frame.select(SCHEMA.names).cast(SCHEMA))
    return sink.getvalue()


def rows(*, connection: Connection, run_id: int) -> pd.DataFrame:
    """The run's quarantined rows: source, row_number, reason, raw (none for a pruned run)."""
    table = _table(connection, run_id)
    return (table if table is not None else SCHEMA.empty_table()).to_pandas()


def counts(*, connection: Connection, run_id: int) -> list[tuple[str, str, int]]:
    """(source, reason, rows) quarantined by the run, by source and reason."""
    frame = rows(connection=connection, run_id=run_id)
    grouped = frame.groupby(["source", "reason"]).size().reset_index(name="rows")
    return sorted(
        (str(source), str(reason), int(n)) for source, reason, n in grouped.itertuples(index=False)
    )


def drop_naming(*, connection: Connection, run_id: int, identifiers: list[str]) -> int:
    """Rewrite the run's file without the rows whose raw values hold one of `identifiers` (as
    a JSON string); how many rows went."""
    table = _table(connection, run_id)
    if table is None or not identifiers or not table.num_rows:
        return 0
    raw = table.column("raw")
    needles = [pc.match_substring(raw, json.dumps(i, ensure_ascii=False)) for i in identifiers]
    naming = functools.reduce(pc.or_, needles)
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


def _table(connection: Connection, run_id: int) -> pa.Table | None:
    content = connection.execute(
        select(_files.c.content).where(_files.c.run_id == run_id, _files.c.name == FILE)
    ).scalar_one_or_none()
    return None if content is None else pq.read_table(io.BytesIO(content))
