"""Many rows written by one statement on the driver's cursor: the live path's writes of a step
that moves thousands of persons at once.

SQLAlchemy's executemany processes each row's parameters in Python (~15 µs a row, more than
SQLite's own work on an indexed row); a rank tie crossing a quintile cut retags 5,000 persons
and appends 7,000 membership changes in one step. Here the statement is compiled once per
dialect, each value goes through its column type's bind processing (dates and times as
SQLAlchemy stores them), and the driver's executemany takes the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, Insert, Update
from sqlalchemy.sql.compiler import SQLCompiler

from store.point_reads import driver_cursor


class _Compiled(NamedTuple):
    statement: Insert | Update  # kept, so that its id names no other statement
    sql: str
    names: tuple[str, ...] | None  # parameter order for positional drivers (SQLite)
    processors: dict[str, Callable[[Any], Any]]  # bind processing, by parameter


_COMPILED: dict[tuple[int, str, tuple[str, ...]], _Compiled] = {}


def execute_many(
    connection: Connection, statement: Insert | Update, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run `statement` once per row of `rows` (each a dict of its parameters, all with the same
    keys) in the caller's transaction."""
    if not rows:
        return
    _, sql, names, processors = _compiled(connection.dialect, statement, tuple(rows[0]))
    # A step's rows share their day and time: each distinct value is processed once (a
    # datetime's processing takes ~2 µs on SQLite, 20 ms of the 12,000 rows of a big step).
    # Equal is not the same here: 1 and True, or one instant in two time zones.
    done: dict[tuple[str, type, Any, Any], Any] = {}

    def processed(key: str, value: Any) -> Any:
        same = (key, type(value), value, getattr(value, "tzinfo", None))
        try:
            return done[same]
        except KeyError:
            done[same] = found = processors[key](value)
            return found
        except TypeError:  # not hashable (a JSON value)
            return processors[key](value)

    def driver_row(row: Mapping[str, Any]) -> Any:
        values = {k: v if k not in processors else processed(k, v) for k, v in row.items()}
        return values if names is None else [values[name] for name in names]

    arguments = [driver_row(row) for row in rows]
    with driver_cursor(connection, sql, arguments, many=True) as cursor:
        cursor.executemany(sql, arguments)


def _compiled(dialect: Dialect, statement: Insert | Update, keys: tuple[str, ...]) -> _Compiled:
    key = (id(statement), dialect.name, keys)
    found = _COMPILED.get(key)
    if found is None or found.statement is not statement:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        assert isinstance(compiled, SQLCompiler)
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[name] = processor
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        if not set(names or compiled.binds) <= set(keys):
            raise RuntimeError(f"{sorted(compiled.binds)} are bound; rows have {sorted(keys)}")
        found = _COMPILED[key] = _Compiled(statement, str(compiled), names, processors)
    return found
