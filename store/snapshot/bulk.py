"""Bulk inserts of a snapshot's rows: COPY on PostgreSQL (psycopg 3), multi-row VALUES on
SQLite, SQLAlchemy's executemany elsewhere; each chunk's Python values made on a thread while
the driver writes the one before."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import orjson
import pandas as pd
import pyarrow as pa
from sqlalchemy import JSON, Connection, Table, insert

WRITE_CHUNK_ROWS = 20_000
T = TypeVar("T")
# Rows per INSERT on SQLite, within its limit on bound values per statement (32,766 since 3.32).
SQLITE_ROWS_PER_INSERT = 500
SQLITE_MAX_VARIABLES = 32_766
JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_PASSTHROUGH_DATETIME


Frame: TypeAlias = pd.DataFrame | pa.RecordBatch  # rows of one chunk
Columns: TypeAlias = dict[str, list[Any]]  # a chunk's values by column, as the driver takes them
# Chunks of features made while SQLite loads the tags and builds their index: a 100k-user run's
# whole feature table (20,000 rows and about 20 MB of JSON each).
CHUNKS_AHEAD = 5


@dataclass(frozen=True)
class Batches:
    """Rows that arrive in pieces, so that a large run never holds them all in memory.

    `read` is called once, inside the write transaction, and yields frames (pandas, or Arrow
    record batches, which skip a conversion) with the columns of the table (minus run_id), in the
    order the rows are to be written.
    """

    count: int
    read: Callable[[], Iterator[Frame]]
    # Where `read` reads from (a table's name), for the producer's bookkeeping: a tagging run
    # keeps only the tables its snapshot reads while the store writes it.
    source: str | None = None


Rows = pd.DataFrame | Batches


def row_count(rows: Rows) -> int:
    return rows.count if isinstance(rows, Batches) else len(rows)


def insert_rows(conn: Connection, table: Table, run_id: int | None, rows: Rows) -> None:
    """Insert `rows`, each with `run_id` added (unless None: a table not kept per run)."""
    insert_chunks(conn, table, run_id, _prefetched(driver_chunks(conn, table, rows)))


def driver_chunks(conn: Connection, table: Table, rows: Rows) -> Iterator[Columns]:
    """`rows` in chunks of column values, JSON serialised where the insert hands the values to
    the driver directly (COPY, SQLite's multi-row VALUES)."""
    direct = conn.dialect.name == "sqlite" or _copies(conn)
    return _column_chunks(rows, json_columns=_json_columns(table) if direct else set())


def _copies(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def insert_chunks(
    conn: Connection, table: Table, run_id: int | None, chunks: Iterator[Columns]
) -> None:
    """Bulk insert: COPY on PostgreSQL through psycopg 3, multi-row VALUES statements on
    SQLite, SQLAlchemy's executemany of dicts elsewhere."""
    if _copies(conn):
        _copy_chunks(conn, table, run_id, chunks)
        return
    if conn.dialect.name == "sqlite":
        _insert_sqlite(conn, table, run_id, chunks)
        return
    for values in chunks:
        records = [
            dict(zip(values, row, strict=True)) for row in zip(*values.values(), strict=True)
        ]
        extra = {} if run_id is None else {"run_id": run_id}
        conn.execute(insert(table), [{**extra, **record} for record in records])


def _insert_sqlite(
    conn: Connection, table: Table, run_id: int | None, chunks: Iterator[Columns]
) -> None:
    """Rows straight to the driver as multi-row `INSERT ... VALUES (...), (...), ...`.

    sqlite3's executemany steps and resets the statement once per row; one statement of
    SQLITE_ROWS_PER_INSERT rows binds the same values with one step (2.6M tag rows: 4.4 s ->
    2.8 s in a micro benchmark).
    """
    quote = conn.dialect.identifier_preparer.quote
    lead = [] if run_id is None else ["run_id"]
    for values in chunks:
        names = [*lead, *values]
        width, n_rows = len(names), len(next(iter(values.values()), []))
        flat: list[Any] = [None] * (n_rows * width)
        if lead:
            flat[0::width] = [run_id] * n_rows
        for i, column in enumerate(values.values(), start=len(lead)):
            flat[i::width] = column
        head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "
        group = "(" + ", ".join(["?"] * width) + ")"
        per = max(1, min(SQLITE_ROWS_PER_INSERT, SQLITE_MAX_VARIABLES // width))
        full = head + ", ".join([group] * per)
        for start in range(0, n_rows, per):
            params = tuple(flat[start * width : (start + per) * width])
            n = len(params) // width
            conn.exec_driver_sql(full if n == per else head + ", ".join([group] * n), params)


def _copy_chunks(
    conn: Connection, table: Table, run_id: int | None, chunks: Iterator[Columns]
) -> None:
    """COPY ... FROM STDIN, one per chunk, on the transaction's own connection: rows stream in
    PostgreSQL's text format instead of one bound statement each (100k snapshot: 67 s -> 34 s,
    the rest is the server's)."""
    quote = conn.dialect.identifier_preparer.quote
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None, "a connection inside a transaction has its driver's"
    with driver_connection.cursor() as cursor:
        for values in chunks:
            lead = () if run_id is None else (run_id,)
            names = ["run_id"] if lead else []
            columns = ", ".join(quote(c) for c in [*names, *values])
            statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in zip(*values.values(), strict=True):
                    copy.write_row((*lead, *row))


def _prefetched(chunks: Iterator[T]) -> Iterator[T]:
    """`chunks`, each made in a worker thread while the caller writes the one before.

    Making a chunk (reading it from DuckDB, Python values, JSON) holds the GIL; SQLite releases
    it while it steps an INSERT. So the two overlap on two cores instead of taking turns.
    """
    with pool("snapshot-rows") as workers:
        yield from ahead(workers, chunks, 1)


@contextmanager
def pool(name: str) -> Iterator[ThreadPoolExecutor]:
    """One worker thread; work it has not started is dropped when the block ends."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


def ahead(pool: ThreadPoolExecutor, chunks: Iterator[T], depth: int) -> Iterator[T]:
    """`chunks`, made by `pool` up to `depth` ahead of the caller, starting at once (not at the
    first `next`). The pool runs its work in order, so the chunks come in order."""
    pending = deque(pool.submit(next, chunks, None) for _ in range(depth))

    def drain() -> Iterator[T]:
        while (chunk := pending.popleft().result()) is not None:
            pending.append(pool.submit(next, chunks, None))
            yield chunk

    return drain()


def _json_columns(table: Table) -> set[str]:
    return {c.name for c in table.columns if isinstance(c.type, JSON)}


def _column_chunks(rows: Rows, *, json_columns: set[str]) -> Iterator[Columns]:
    """Each chunk of `rows` as its columns' Python values, missing values as None, and the
    values of `json_columns` serialised (for a driver that is handed them directly)."""
    for chunk in _chunks(rows):
        if isinstance(chunk, pa.RecordBatch):
            yield {
                name: _serialised(column.to_pylist())
                if name in json_columns
                else column.to_pylist()
                for name, column in zip(chunk.schema.names, chunk.columns, strict=True)
            }
        else:
            yield {
                name: _python_values(chunk[name], name in json_columns) for name in chunk.columns
            }


def _chunks(rows: Rows) -> Iterator[Frame]:
    if isinstance(rows, Batches):
        yield from rows.read()
        return
    for start in range(0, len(rows), WRITE_CHUNK_ROWS):
        yield rows.iloc[start : start + WRITE_CHUNK_ROWS]


def _python_values(series: pd.Series, as_json: bool) -> list[Any]:
    """Column values as plain Python objects, missing values as None, JSON serialised when
    `as_json`."""
    if not as_json and (
        pd.api.types.is_numeric_dtype(series.dtype) or isinstance(series.dtype, pd.StringDtype)
    ):
        # Arrow makes the Python objects (NaN as None) at about 2/3 of pandas' cost.
        return pa.Array.from_pandas(series).to_pylist()
    values: list[Any] = series.astype(object).where(series.notna(), None).tolist()
    return _serialised(values) if as_json else values


def _serialised(values: list[Any]) -> list[str]:
    """JSON text of each value, by orjson (a run's 89k feature dicts: 0.16 s, against 2.0 s by
    json.dumps).

    numpy numbers are numbers and other unknown types (dates among them) their str(), as
    json.dumps(default=str) made them; NaN, which is not JSON, becomes null.
    """
    dumps, default = orjson.dumps, str
    return [dumps(v, default=default, option=JSON_OPTIONS).decode() for v in values]
