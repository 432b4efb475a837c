"""Readers for the sources of the data contract (CSV, JSONL, Parquet, Excel workbooks).

Every source is read as text columns plus `_row`, its 1-based data row number in the file, so
that a value that does not parse becomes a quarantined row with a reason instead of a failed
read. Type conversion happens in `tagging.clean`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from store.errors import InputError
from tagging.columns import match_columns, missing_column
from tagging.encodings import as_utf8
from tagging.workbooks import workbook_as_csv

ROW = "_row"
# A checked source's rows keep a hash of their identifying text (`read_source`), by which the
# few whose text is wanted are found when the file is read again.
TEXT_HASH = "_text_hash"


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
        SourceSpec(
            "touches",
            ("ts", "channel"),
            ("campaign", "kind", "cost"),
            one_of=("user_id", "device_id"),
        ),
    )
}

CSV = "read_csv('{path}', all_varchar = true, header = {header})"
READERS = {
    ".csv": CSV,
    ".tsv": CSV,
    ".txt": CSV,
    ".jsonl": "read_json('{path}', format = 'newline_delimited')",
    ".ndjson": "read_json('{path}', format = 'newline_delimited')",
    ".parquet": "read_parquet('{path}')",
}
TEXT = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson")
# Read with python-calamine (first sheet) and handed to DuckDB as CSV.
WORKBOOKS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")


@dataclass(frozen=True)
class Source:
    """One source as read: its rows (text columns and `_row`) and its file's encoding.

    A source read with checks keeps only the checked rows (`checked`); its `table` then reads
    the file again at each query, for the few rows whose text is wanted (quarantined rows).
    """

    table: ir.Table
    encoding: str | None  # None for Parquet and workbooks, which say their own
    checked: ir.Table | None = None
    # With checks: the text of the rows a materialised table of `_row`s names, read again.
    text_of: Callable[[ir.Table], ir.Table] | None = None

    @property
    def rows(self) -> ir.Table:
        """What was kept of each row read: the checked rows, else the text rows."""
        return self.table if self.checked is None else self.checked


Checks = Callable[[ir.Table], ir.Table]  # a source's text rows -> what is kept of each
# The rows of a file read first for checks made from a sample of it (`read_source`).
SAMPLE_ROWS = 100_000

# DuckDB spills past this; Python holds up to ~2.4 GB more at a run's peak (1M users: 7.0 GB
# at 5GB, 8.4 GB at 6GB), so the whole run stays under 8 GB.
DUCKDB_MEMORY_LIMIT = "5GB"


def connect(
    *, memory_limit: str = DUCKDB_MEMORY_LIMIT, spill_dir: str | None = None, zone: str = "UTC"
) -> DuckDBBackend:
    """A DuckDB connection for one run, in the shop's time `zone` (an IANA name).

    Past `memory_limit` DuckDB spills to `spill_dir` instead of growing further.
    """
    settings = {"memory_limit": memory_limit}
    if spill_dir is not None:
        settings["temp_directory"] = spill_dir
    con = ibis.duckdb.connect(**settings)
    _in_zone(con, zone)
    return con


@contextmanager
def cursor(con: DuckDBBackend) -> Iterator[DuckDBBackend]:
    """A backend on a cursor of its own over `con`'s database (its tables, its memory limit),
    for queries on another thread: a DuckDB connection runs one query at a time. A cursor
    inherits the database's global settings (the time zone, `_in_zone`), not a session's."""
    own = con.con.cursor()
    try:
        # A new cursor starts with the global zone, which ibis then sets to UTC.
        (zone,) = own.execute("SELECT current_setting('TimeZone')").fetchone() or ("UTC",)
        backend = ibis.duckdb.from_connection(own)
        _in_zone(backend, zone)
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


def _in_zone(con: DuckDBBackend, zone: str) -> None:
    # Text without an offset is read in the shop's zone, and TIMESTAMPTZ -> TIMESTAMP gives its
    # wall clock (tagging.parsing). Global, so that the connection's cursors have it too.
    con.raw_sql(f"SET GLOBAL TimeZone = '{zone}'")
    con.raw_sql(f"SET TimeZone = '{zone}'")


def find_sources(source_dir: Path) -> dict[str, Path]:
    """The contract's files present in `source_dir` (`orders.csv`, `Orders.XLSX`, ...);
    `orders` is the one that must exist."""
    if not source_dir.is_dir():
        raise InputError(f"source folder {str(source_dir)!r} does not exist")
    suffixes = (*READERS, *WORKBOOKS)
    files = [p for p in sorted(source_dir.iterdir()) if p.suffix.lower() in suffixes]
    found: dict[str, Path] = {}
    for name in CONTRACT:
        present = [p for p in files if p.stem.lower() == name and p.is_file()]
        if len(present) > 1:
            raise InputError(f"{name}: several files for one source: {[str(p) for p in present]}")
        if present:
            found[name] = present[0]
    if "orders" not in found:
        raise InputError(
            f"{source_dir}: no orders file (orders.csv, .jsonl, .parquet or .xlsx); "
            "orders is the one source every run needs"
        )
    return found


def read_source(
    con: DuckDBBackend,
    name: str,
    path: Path,
    *,
    checks: Checks | None = None,
    checks_of_sample: Callable[[ir.Table], Checks] | None = None,
    workdir: Path | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Source:
    """Read one source as the contract's text columns plus `_row`, in one pass over the file.

    Headers are matched as `tagging.columns` says (`columns`: the shop's own, contract column
    -> header). Text files in another encoding than UTF-8 (detected, or `encoding`) and
    workbooks are first copied into `workdir` as UTF-8 CSV. Empty strings become NULL and
    identifiers are trimmed; absent optional columns are NULL; other columns are not kept.

    `checks` makes the columns kept of each row as the file is read (the events' parsed
    timestamps and reasons, say), given the row's text and the hash of its ids and required
    columns (`TEXT_HASH`, which they pass through): they are materialised as the view
    `checked_<name>` (with `_row`), and the text is not; `source_<name>` then reads the file
    again, numbering its rows in file order, and `Source.text_of` reads it again for a few
    rows (quarantined ones), found by their hash.
    `checks_of_sample`, given, makes the checks instead, from the file's first `SAMPLE_ROWS`
    rows (the events' checks, from their common user agents).
    """
    spec = CONTRACT[name]
    work = workdir or Path(tempfile.mkdtemp(prefix="portrait-read-"))
    readable, used = _readable(path, work, encoding)
    reader = _reader(readable, header=True)
    headers = _headers(con, path, readable)
    try:
        # DESCRIBE only sniffs the file. (ibis's con.sql would call a DuckDB API deprecated in 1.5.)
        named = [row[0] for row in con.raw_sql(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except Exception as error:  # DuckDB raises many types; all mean "not this format"
        raise _not_format(path, error) from error
    matched = match_columns(path, headers, spec.columns, mapping=columns)
    _check_columns(spec, path, headers, matched)
    by_column = {column: named[position] for column, position in matched.items()}
    select = _select_list(spec, by_column)
    rows = f"SELECT {select} FROM {reader}"
    hashed = _hashed(rows, _identifying(spec))
    table = f"source_{name}_rows"
    try:
        if checks_of_sample is not None:
            checks = _checks_of_sample(con, name, rows, checks_of_sample)
        if checks is None:
            con.raw_sql(f"CREATE OR REPLACE TABLE {table} AS {rows}")
        else:
            text = {column: "string" for column in spec.columns}
            checked = checks(ibis.table({**text, TEXT_HASH: "uint64"}, "_file"))
            # Made with ibis's types (naive timestamps), which a query's SQL alone may not give.
            con.create_table(table, schema=checked.schema(), overwrite=True)
            checking = ibis.to_sql(checked, dialect="duckdb")
            con.raw_sql(f"INSERT INTO {table} WITH _file AS ({hashed}) {checking}")
    except Exception as error:
        raise _not_format(path, error) from error
    # The table keeps the file's order (DuckDB preserves insertion order), so its rowid is the
    # row's position in the file: numbering the rows with row_number() OVER () instead is a
    # window over the whole file that took as long as parsing it.
    numbered = f"SELECT rowid + 1 AS {ROW}, * FROM {table}"
    if checks is None:
        con.raw_sql(f"CREATE OR REPLACE VIEW source_{name} AS {numbered}")
        return Source(con.table(f"source_{name}"), used)
    con.raw_sql(f"CREATE OR REPLACE VIEW checked_{name} AS {numbered}")
    # The same file in the same order, numbered as it is read (a streaming window).
    again = f"SELECT row_number() OVER () AS {ROW}, * FROM {reader}"
    con.raw_sql(f"CREATE OR REPLACE VIEW file_{name} AS {again}")
    con.raw_sql(f"CREATE OR REPLACE VIEW source_{name} AS SELECT {ROW}, {select} FROM file_{name}")

    def text_of(numbers: ir.Table) -> ir.Table:
        # Joined before the text is made the contract's (trimmed, NULL for empty): made for
        # every row and then joined, it took twice the CPU of the join alone.
        joined = f"file_{name} JOIN {numbers.get_name()} USING ({ROW})"
        if not numbers.count().to_pyarrow().as_py():
            joined += " LIMIT 0"  # no row wanted: the file is not read again
        elif _found_by_hash(con, name, numbers.get_name(), hashed):
            return con.table(f"text_{name}")
        con.raw_sql(f"CREATE OR REPLACE VIEW text_{name} AS SELECT {ROW}, {select} FROM {joined}")
        return con.table(f"text_{name}")

    return Source(con.table(f"source_{name}"), used, con.table(f"checked_{name}"), text_of)


def _identifying(spec: SourceSpec) -> tuple[str, ...]:
    """The columns a row's hash is made of: the required ones and the ids. Hashing all of a
    row's text took the 1M shop's events pass from 39 to 55 s (every column's strings made
    for it); two rows these leave alike but whose other text differs are seen when the text
    is found (`_found_by_hash`), and then the rows are numbered instead."""
    return spec.required + spec.one_of + tuple(c for c in spec.optional if c.endswith("_id"))


def _hashed(rows: str, columns: Sequence[str]) -> str:
    """The rows of the query `rows` with the hash of their text columns (`TEXT_HASH`)."""
    listed = ", ".join(columns)
    return f"SELECT *, hash({listed}) AS {TEXT_HASH} FROM ({rows})"


def _found_by_hash(con: DuckDBBackend, name: str, numbers: str, hashed: str) -> bool:
    """Make the view `text_<name>`: the text of the rows `numbers` names (`_row`), found by
    the hash their checked rows keep in a parallel read of the file; False, and no view, when
    a hash is not enough (two texts with one hash, or a wanted hash not found: the file
    changed since it was read).

    DuckDB numbers a CSV's rows in file order only through a streaming window, which runs on
    one thread: the 1M shop's 32.8M events took it 36 s, and this 18 s. Where every found
    row of a hash has one text, it is the text of every wanted row of that hash (a repeated
    row is most often the same text again).
    """
    wanted, found = f"wanted_{name}", f"found_{name}"
    con.raw_sql(
        f"CREATE OR REPLACE TABLE {wanted} AS SELECT {ROW}, {TEXT_HASH} "
        f"FROM {numbers} JOIN checked_{name} USING ({ROW})"
    )
    con.raw_sql(
        f"CREATE OR REPLACE TABLE {found} AS SELECT DISTINCT * FROM ({hashed}) "
        f"WHERE {TEXT_HASH} IN (SELECT {TEXT_HASH} FROM {wanted})"
    )
    (texts, hashes, missing) = con.raw_sql(
        f"SELECT (SELECT count(*) FROM {found}), (SELECT count(DISTINCT {TEXT_HASH}) FROM "
        f"{found}), (SELECT count(*) FROM {wanted} ANTI JOIN {found} USING ({TEXT_HASH}))"
    ).fetchone()
    if texts != hashes or missing:
        con.raw_sql(f"DROP TABLE {wanted}; DROP TABLE {found}")
        return False
    con.raw_sql(
        f"CREATE OR REPLACE VIEW text_{name} AS SELECT {wanted}.{ROW}, {found}.* "
        f"EXCLUDE ({TEXT_HASH}) FROM {wanted} JOIN {found} USING ({TEXT_HASH})"
    )
    return True


def _checks_of_sample(
    con: DuckDBBackend, name: str, rows: str, checks_of_sample: Callable[[ir.Table], Checks]
) -> Checks:
    sample = f"sample_{name}"
    con.raw_sql(f"CREATE OR REPLACE VIEW {sample} AS {rows} LIMIT {SAMPLE_ROWS}")
    try:
        return checks_of_sample(con.table(sample))
    finally:
        con.drop_view(sample)


def _readable(path: Path, workdir: Path, encoding: str | None) -> tuple[Path, str | None]:
    """The file DuckDB reads for `path`, and the encoding `path` was written in (text only)."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise InputError(f"{path}: is empty (no header, no rows)")
    if suffix in WORKBOOKS:
        return workbook_as_csv(path, workdir), None
    if suffix not in TEXT:
        return path, None
    text = as_utf8(path, workdir, encoding=encoding)
    with text.path.open("rb") as file:
        if not file.read(4096).strip(b"\xef\xbb\xbf \t\r\n"):
            raise InputError(f"{path}: is empty (no header, no rows)")
    return text.path, text.encoding


def _reader(path: Path, *, header: bool) -> str:
    template = READERS.get(path.suffix.lower(), CSV)
    return template.format(path=str(path).replace("'", "''"), header=str(header).lower())


def _headers(con: DuckDBBackend, path: Path, readable: Path) -> list[str]:
    """The file's headers as written: DuckDB renames a repeated CSV header (`amount_1`), so a
    CSV's first line is read as a row; JSON and Parquet name their columns themselves."""
    try:
        if readable.suffix.lower() in READERS and READERS[readable.suffix.lower()] != CSV:
            described = con.raw_sql(f"DESCRIBE SELECT * FROM {_reader(readable, header=True)}")
            return [str(row[0]) for row in described.fetchall()]
        first = con.raw_sql(f"SELECT * FROM {_reader(readable, header=False)} LIMIT 1").fetchone()
    except Exception as error:  # DuckDB raises many types; all mean "not this format"
        raise _not_format(path, error) from error
    return [str(cell) if cell is not None else "" for cell in first or ()]


def _not_format(path: Path, error: Exception) -> InputError:
    detail = str(error).strip().splitlines()[0]
    if "unicode" in detail.lower():
        return InputError(
            f"{path}: is not valid UTF-8 text past its first megabyte ({detail}); name its "
            "encoding (--encoding, or encoding in [shop]) or save it as UTF-8"
        )
    return InputError(f"{path}: is not a valid {path.suffix[1:]} file ({detail})")


def _select_list(spec: SourceSpec, by_column: dict[str, str]) -> str:
    columns: list[str] = []
    for column in spec.columns:
        if column in by_column:
            quoted = '"' + by_column[column].replace('"', '""') + '"'
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


def _check_columns(
    spec: SourceSpec, path: Path, headers: list[str], matched: dict[str, int]
) -> None:
    if not matched:
        # No header is one of the source's columns: the file may be anything (a file linked
        # in by mistake, a secret); its first line is not repeated in an error others read.
        raise InputError(
            f"{path}: none of its {len(headers):,} headers is a column of {spec.name} "
            f"(it needs {', '.join(spec.required + spec.one_of)}); is it the {spec.name} export?"
        )
    for column in spec.required:
        if column not in matched:
            raise missing_column(path, column, headers)
    if spec.one_of and not matched.keys() & set(spec.one_of):
        raise InputError(
            f"{path}: needs at least one of the columns {', '.join(map(repr, spec.one_of))} "
            f"(found: {', '.join(headers)})"
        )
