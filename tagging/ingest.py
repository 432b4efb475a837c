"""Typed readers for the sources of the data contract (CSV, JSONL, Parquet).

Every source is read as text columns plus `_row`, its 1-based data row number in the file, so
that a value that does not parse becomes a quarantined row with a reason instead of a failed
read. Type conversion happens in `tagging.clean`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from store.errors import InputError

ROW = "_row"


@dataclass(frozen=True)
class SourceSpec:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # Events may name their person by user id or device id: one of them per file is required.
    one_of: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.one_of + self.optional


CONTRACT: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "users",
            ("user_id",),
            (
                "registered_at",
                "birth_date",
                "age",
                "gender",
                "city",
                "region",
                "occupation",
                "member_level",
                "channel",
            ),
        ),
        SourceSpec(
            "events",
            ("event_type", "ts"),
            (
                "event_id",
                "item_id",
                "category",
                "brand",
                "price",
                "platform",
                "os",
                "device_model",
                "dwell_ms",
                "session_id",
                "ip",
                "user_agent",
                "query",
            ),
            one_of=("user_id", "device_id"),
        ),
        SourceSpec(
            "orders",
            ("order_id", "user_id", "ts", "amount"),
            ("coupon_code", "discount", "pay_method", "channel"),
        ),
        SourceSpec(
            "order_items",
            ("order_id", "item_id", "quantity", "price"),
            ("category", "brand"),
        ),
        SourceSpec("products", ("item_id",), ("category", "brand", "price", "name")),
        SourceSpec("identities", ("id_a", "id_b"), ("kind_a", "kind_b")),
    )
}

READERS = {
    ".csv": "read_csv('{path}', all_varchar = true, header = true)",
    ".jsonl": "read_json('{path}', format = 'newline_delimited')",
    ".ndjson": "read_json('{path}', format = 'newline_delimited')",
    ".parquet": "read_parquet('{path}')",
}


# DuckDB spills past this; Python holds up to ~2.4 GB more at a run's peak (1M users: 7.0 GB
# at 5GB, 8.4 GB at 6GB), so the whole run stays under 8 GB.
DUCKDB_MEMORY_LIMIT = "5GB"


def connect(
    *, memory_limit: str = DUCKDB_MEMORY_LIMIT, spill_dir: str | None = None
) -> DuckDBBackend:
    """A DuckDB connection for one run, with UTC as its session time zone.

    Past `memory_limit` DuckDB spills to `spill_dir` instead of growing further.
    """
    settings = {"memory_limit": memory_limit}
    if spill_dir is not None:
        settings["temp_directory"] = spill_dir
    con = ibis.duckdb.connect(**settings)
    _in_utc(con)
    return con


@contextmanager
def cursor(con: DuckDBBackend) -> Iterator[DuckDBBackend]:
    """A backend on a cursor of its own over `con`'s database (its tables, its memory limit),
    for queries on another thread: a DuckDB connection runs one query at a time. A cursor does
    not inherit its connection's session settings, so they are made again."""
    own = con.con.cursor()
    try:
        backend = ibis.duckdb.from_connection(own)
        _in_utc(backend)
        yield backend
    finally:
        own.close()


def memtable(frame: pd.DataFrame) -> ir.Table:
    """A pandas frame as an ibis table, through Arrow: ibis's own pandas conversion trips a
    pandas 4 deprecation warning."""
    return ibis.memtable(pa.Table.from_pandas(frame, preserve_index=False))


def empty_table(**columns: str) -> ir.Table:
    """An empty table of these column types: a source the shop does not have."""
    return ibis.memtable(ibis.schema(columns).to_pyarrow().empty_table())


def _in_utc(con: DuckDBBackend) -> None:
    # Naive timestamps are read as UTC, and TIMESTAMPTZ -> TIMESTAMP converts to UTC.
    con.raw_sql("SET TimeZone = 'UTC'")


def find_sources(source_dir: Path) -> dict[str, Path]:
    """The contract's files present in `source_dir`; `orders` is the one that must exist."""
    if not source_dir.is_dir():
        raise InputError(f"source folder {str(source_dir)!r} does not exist")
    found: dict[str, Path] = {}
    for name in CONTRACT:
        candidates = [source_dir / f"{name}{ext}" for ext in READERS]
        present = [p for p in candidates if p.is_file()]
        if len(present) > 1:
            raise InputError(f"{name}: several files for one source: {[str(p) for p in present]}")
        if present:
            found[name] = present[0]
    if "orders" not in found:
        raise InputError(
            f"{source_dir}: no orders file (orders.csv, orders.jsonl or orders.parquet); "
            "orders is the one source every run needs"
        )
    return found


def read_source(
    con: DuckDBBackend,
    name: str,
    path: Path,
    *,
    checks: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """Read one source as the contract's text columns plus `_row`, in one pass over the file.

    Empty strings become NULL and identifiers are trimmed; absent optional columns are NULL;
    columns outside the contract are not kept.

    `checks` adds columns worked out from each row's text as the file is read (the events'
    parsed timestamps, say): a later query would read the text again. The view
    `checked_<name>` shows them with `_row` and the text columns.
    """
    spec = CONTRACT[name]
    reader = READERS[path.suffix.lower()].format(path=str(path).replace("'", "''"))
    try:
        # DESCRIBE only sniffs the file. (ibis's con.sql would call a DuckDB API deprecated in 1.5.)
        found = [row[0] for row in con.raw_sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except Exception as error:  # DuckDB raises many types; all mean "not this format"
        raise _not_format(path, error) from error
    by_name = {column.strip().lower(): column for column in found}
    _check_columns(spec, path, list(by_name))
    rows = f"SELECT {_select_list(spec, by_name)} FROM {reader}"
    table = f"source_{name}_rows"
    checked = None
    if checks is not None:
        checked = checks(ibis.table({column: "string" for column in spec.columns}, name="_file"))
    try:
        if checked is None:
            con.raw_sql(f"CREATE OR REPLACE TABLE {table} AS {rows}")
        else:
            # Made with ibis's types (naive timestamps), which a query's SQL alone may not give.
            con.create_table(table, schema=checked.schema(), overwrite=True)
            select = ibis.to_sql(checked, dialect="duckdb")
            con.raw_sql(f"INSERT INTO {table} WITH _file AS ({rows}) {select}")
    except Exception as error:
        raise _not_format(path, error) from error
    # The table keeps the file's order (DuckDB preserves insertion order), so its rowid is the
    # row's position in the file: numbering the rows with row_number() OVER () instead is a
    # window over the whole file that took as long as parsing it.
    columns = ", ".join(spec.columns)
    con.raw_sql(
        f"CREATE OR REPLACE VIEW source_{name} AS SELECT rowid + 1 AS {ROW}, {columns} FROM {table}"
    )
    if checked is not None:
        con.raw_sql(
            f"CREATE OR REPLACE VIEW checked_{name} AS SELECT rowid + 1 AS {ROW}, * FROM {table}"
        )
    return con.table(f"source_{name}")


def _not_format(path: Path, error: Exception) -> InputError:
    detail = str(error).strip().splitlines()[0]
    return InputError(f"{path}: is not a valid {path.suffix[1:]} file ({detail})")


def _select_list(spec: SourceSpec, by_name: dict[str, str]) -> str:
    columns: list[str] = []
    for column in spec.columns:
        if column in by_name:
            quoted = '"' + by_name[column].replace('"', '""') + '"'
            text = f"CAST({quoted} AS VARCHAR)"
            # A stray space in an id would split a person in two; elsewhere trimming costs
            # seconds on a large events file and changes nothing (casts ignore spaces).
            if column.endswith("_id") or column in ("id_a", "id_b"):
                text = _trimmed(text)
            columns.append(f"NULLIF({text}, '') AS {column}")
        else:
            columns.append(f"CAST(NULL AS VARCHAR) AS {column}")
    return ", ".join(columns)


def _trimmed(text: str) -> str:
    """`text` without leading and trailing spaces. TRIM makes a new copy of every string; only
    the few with a space at either end need one (0.7 s of CPU on 100k users' events)."""
    return f"CASE WHEN {text} LIKE ' %' OR {text} LIKE '% ' THEN TRIM({text}) ELSE {text} END"


def _check_columns(spec: SourceSpec, path: Path, columns: list[str]) -> None:
    present = set(columns)
    for column in spec.required:
        if column not in present:
            raise InputError(
                f"{path}: missing required column {column!r} (found: {', '.join(columns)})"
            )
    if spec.one_of and not present.intersection(spec.one_of):
        raise InputError(
            f"{path}: needs at least one of the columns {', '.join(map(repr, spec.one_of))}"
        )
