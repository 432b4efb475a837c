"""Engines for the tag store: SQLite by default (WAL, busy timeout), PostgreSQL in production."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, event, inspect, select
from sqlalchemy.engine import Engine, ExceptionContext
from sqlmodel import SQLModel, create_engine

# Imported to register their tables on SQLModel.metadata.
from store import models  # noqa: F401
from store.errors import InputError, StoreBusy
from store.live import lines as live_lines  # noqa: F401
from store.live import log as live  # noqa: F401
from store.live import profiles as live_profiles  # noqa: F401
from store.live import webhooks  # noqa: F401
from store.models import AuditEntry, table_of
from store.views import create_views

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_CACHE_KIB = 256 * 1024
SQLITE_MMAP_BYTES = 1 << 30
# ANALYZE samples this many rows per index: statistics in milliseconds, good enough to plan by.
SQLITE_ANALYSIS_ROWS = 2_000


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers keep serving the committed run while a tagging run writes the next one.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows (a forgotten person's) are overwritten with zeros, not left in free pages;
    # set here because builds differ in their default.
    cursor.execute("PRAGMA secure_delete=ON")
    # A large page cache keeps index pages of a big snapshot write in memory (allocated on use).
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    # Memory-mapped reads share the OS page cache between pooled connections.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def refresh_statistics(engine: Engine) -> None:
    """Let the query planner see the new run's sizes (SQLite keeps no statistics by itself).

    Without them SQLite reads one person's tags by scanning the key/value clustered table.
    """
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL's autovacuum analyzes new rows by itself
    with engine.begin() as conn:
        conn.exec_driver_sql(f"PRAGMA analysis_limit={SQLITE_ANALYSIS_ROWS}")
        conn.exec_driver_sql("ANALYZE")


def _json_loads(text: str | bytes) -> Any:
    """JSON columns as Python values: orjson (a profile of 100 persons parses 200 documents),
    with the standard library for the NaN and Infinity that orjson refuses and json.dumps
    may have written."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def unchecked_engine(url: str) -> Engine:
    """An engine for `url` as it is: no table created, no layout checked (`store.migration`)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url, pool_pre_ping=True, json_deserializer=_json_loads, hide_parameters=True
    )


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the tables created if they are missing (on a SQLite file, all
    but the audit log, which `audit_engine` keeps in a file of its own); InputError for a store
    in the layout before tag store v2 (`portrait migrate` converts it)."""
    engine = unchecked_engine(url)
    audit = table_of(AuditEntry)
    tables = SQLModel.metadata.sorted_tables
    own = [t for t in tables if t is not audit] if _audit_file(engine) else tables
    try:
        with engine.connect() as connection:
            refuse_old_layout(connection)
    except InputError:
        engine.dispose()
        raise
    SQLModel.metadata.create_all(engine, tables=own)
    with engine.begin() as connection:
        _allow_runs_without_as_of(connection)
        create_views(connection)
    return engine


def _allow_runs_without_as_of(connection: Connection) -> None:
    """Stores made before a run's as-of was left null until its commit had `runs.as_of NOT
    NULL`: drop the constraint. On SQLite by the documented way for a NOT NULL constraint
    (sqlite.org/lang_altertable.html, "making other kinds of table schema changes"): only the
    table's text in the schema changes, not a row on disk."""
    columns = {c["name"]: c for c in inspect(connection).get_columns("runs")}
    if columns["as_of"]["nullable"]:
        return
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql("ALTER TABLE runs ALTER COLUMN as_of DROP NOT NULL")
        return
    schema = "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'runs'"
    text = connection.exec_driver_sql(schema).scalar_one()
    relaxed = re.sub(r"\bas_of DATETIME NOT NULL\b", "as_of DATETIME", text)
    version = connection.exec_driver_sql("PRAGMA schema_version").scalar_one()
    connection.exec_driver_sql("PRAGMA writable_schema = ON")
    connection.exec_driver_sql(
        "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'runs'", (relaxed,)
    )
    connection.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    connection.exec_driver_sql("PRAGMA writable_schema = OFF")


# Tables only the layout before tag store v2 had (one row per tag, persons numbered per run).
OLD_LAYOUT = ("person_tags", "persons", "features", "quarantine")


def refuse_old_layout(connection: Connection) -> None:
    """InputError saying how to rebuild a store written by the layout before tag store v2."""
    found = sorted(set(inspect(connection).get_table_names()) & set(OLD_LAYOUT))
    if found:
        store = connection.engine.url.render_as_string(hide_password=True)
        raise InputError(
            f"the store {store} was written by Portrait's earlier layout, one SQL row per tag"
            f" (it has the tables {', '.join(found)}), which this version does not read."
            " `portrait migrate` converts it: it keeps API keys, saved audiences, the audit"
            " log and the suppression list of forgotten persons, drops the runs' tags (their"
            " runs stay listed as pruned), and the next `portrait run --source DIR` tags the"
            " shop again"
        )


def _sqlite_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's error (logged) would quote its values (user ids).
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False},
        json_deserializer=_json_loads,
        hide_parameters=True,
    )
    event.listen(engine, "connect", _tune_sqlite)
    event.listen(engine, "handle_error", _busy_as_store_busy)
    return engine


def _busy_as_store_busy(context: ExceptionContext) -> None:
    """SQLite's "database is locked" (the busy timeout ran out) as a StoreBusy that says why
    and what to do, instead of an unexpected error."""
    error = context.original_exception
    if isinstance(error, sqlite3.OperationalError) and str(error) == "database is locked":
        seconds = SQLITE_BUSY_TIMEOUT_MS / 1000
        store = "?" if context.engine is None else context.engine.url.database
        raise StoreBusy(
            f"the store {store} is busy: another process has held its"
            f" write lock for over {seconds:g} s (a tagging run holds it while it commits);"
            " nothing was written, try again when it is done"
        ) from error


_audit_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_audit_engines_made = threading.Lock()  # two requests' first audit writes may come at once


def audit_engine(engine: Engine) -> Engine:
    """The engine that holds the audit log of `engine`'s store.

    On PostgreSQL (and an in-memory SQLite store) it is the store's own. A SQLite store file
    keeps it in a second file beside it (`portrait.db` -> `portrait-audit.db`): SQLite has one
    writer per file, and a run's commit holds it for the whole snapshot (about 8 s at 100k
    users, 100 s at 1M), longer than the busy timeout an analyst's audited read would wait.
    """
    path = _audit_file(engine)
    if path is None:
        return engine
    with _audit_engines_made:
        audit = _audit_engines.get(engine)
        if audit is None:
            audit = _sqlite_engine(f"sqlite:///{path}")
            SQLModel.metadata.create_all(audit, tables=[table_of(AuditEntry)])
            _carry_over_audit_log(audit, store=engine)
            _audit_engines[engine] = audit
    return audit


def _carry_over_audit_log(audit: Engine, *, store: Engine) -> None:
    """Copy the audit log a store made before it had a file of its own into a new audit file
    (reading the store only: a run's commit does not stop it). The old rows stay behind."""
    audit_log = table_of(AuditEntry)
    with audit.connect() as conn:
        if conn.execute(select(audit_log.c.id).limit(1)).first() is not None:
            return  # carried over already, or in use
        conn.exec_driver_sql("ATTACH DATABASE ? AS store", (store.url.database,))
        try:
            found = conn.exec_driver_sql(
                "SELECT 1 FROM store.sqlite_master WHERE type = 'table' AND name = ?",
                (audit_log.name,),
            ).first()
            if found is not None:
                columns = ", ".join(f'"{c.name}"' for c in audit_log.columns)
                conn.exec_driver_sql(
                    f"INSERT INTO main.{audit_log.name} ({columns}) "
                    f"SELECT {columns} FROM store.{audit_log.name} ORDER BY id"
                )
            conn.commit()  # DETACH is refused inside a transaction
        finally:
            conn.exec_driver_sql("DETACH DATABASE store")


def _audit_file(engine: Engine) -> Path | None:
    """Where a SQLite store file keeps its audit log; None for other stores."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    path = Path(database)
    return path.with_name(f"{path.stem}-audit{path.suffix}")
