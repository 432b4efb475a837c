"""Point reads on the driver's cursor: the API's hot path (a profile in about a millisecond).

`point_rows` runs a prepared SQLAlchemy Core statement without `Connection.execute`'s per-call
cost; the read modules of each domain (`store.runs.reads`, `store.profiles.reads`,
`store.catalog`) build their statements once, with bound parameters, and read through it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import Connection, Dialect, Select
from sqlalchemy.sql.compiler import SQLCompiler

# The SQL of a statement for a dialect and the lengths of its IN lists, and its parameter
# names in order (positional drivers) or as the SQL names them (named drivers).
# Values the statement binds itself (a literal compared, a LIMIT) come along.
_EXPANDED: dict[tuple[int, str, tuple[int, ...]], Expanded] = {}
# The column types' own result processing (UTC datetimes, JSON text on SQLite) by statement
# and dialect; None where no column needs any. Built from the first result's column type codes.
_PROCESSORS: dict[tuple[int, str], tuple[Callable[[Any], Any] | None, ...] | None] = {}


class Expanded(NamedTuple):
    sql: str
    names: tuple[str, ...] | None
    constants: dict[str, Any]


def point_rows(
    connection: Connection, statement: Select[Any], parameters: dict[str, Any]
) -> list[Sequence[Any]]:
    """The rows of a profile's point queries, run on the driver's cursor.

    Connection.execute costs 70-120 µs a call in SQLAlchemy before and after the query (more
    than the indexed query itself, ~13 µs on SQLite), and a profile makes several. Here the
    statement is compiled once per dialect and IN-list lengths, and the column types' result
    processing (UTC datetimes, JSON text on SQLite) is applied as SQLAlchemy would.
    """
    sql, names, constants = _expanded(connection.dialect, statement, parameters)
    arguments: Any = _arguments(names, parameters, constants)
    with driver_cursor(connection, sql, arguments, many=False) as cursor:
        cursor.execute(sql, arguments)
        rows: list[Sequence[Any]] = list(cursor.fetchall())
        processors = _processors(connection.dialect, statement, cursor.description)
        if processors is not None:
            rows = [
                tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
    return rows


@contextmanager
def driver_cursor(connection: Connection, sql: str, arguments: Any, *, many: bool) -> Iterator[Any]:
    """A cursor of the connection's driver, for running `sql` on it: closed after, and the
    engine's cursor events sent before and after (tools that watch them, such as tracing,
    query logs and tests, still see these statements)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    watched = connection._has_events or connection.engine._has_events
    try:
        if watched:
            connection.dispatch.before_cursor_execute(
                connection, cursor, sql, arguments, None, many
            )
        yield cursor
        if watched:
            connection.dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, many)
    finally:
        cursor.close()


def _expanded(dialect: Dialect, statement: Select[Any], parameters: dict[str, Any]) -> Expanded:
    lengths = tuple(len(v) if isinstance(v, list) else -1 for v in parameters.values())
    key = (id(statement), dialect.name, lengths)
    found = _EXPANDED.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        state = compiled.construct_expanded_state(parameters)
        given = _arguments(None, parameters, {})
        if not set(given) <= set(state.parameters):
            raise RuntimeError(f"SQLAlchemy expanded {sorted(state.parameters)} unexpectedly")
        constants = {k: v for k, v in state.parameters.items() if k not in given}
        names = tuple(state.positiontup or ()) if compiled.positional else None
        found = _EXPANDED[key] = Expanded(state.statement, names, constants)
    return found


def _processors(
    dialect: Dialect, statement: Select[Any], description: Sequence[Sequence[Any]]
) -> tuple[Callable[[Any], Any] | None, ...] | None:
    key = (id(statement), dialect.name)
    if key not in _PROCESSORS:
        processors = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            for column, described in zip(statement.selected_columns, description, strict=True)
        )
        _PROCESSORS[key] = processors if any(processors) else None
    return _PROCESSORS[key]


def _arguments(
    names: tuple[str, ...] | None, parameters: dict[str, Any], constants: dict[str, Any]
) -> Any:
    """The driver's parameters: an IN list `ids` expands to ids_1, ids_2, ... in SQLAlchemy's
    naming."""
    flat: dict[str, Any] = dict(constants)
    for name, value in parameters.items():
        if isinstance(value, list):
            flat.update((f"{name}_{n}", item) for n, item in enumerate(value, start=1))
        else:
            flat[name] = value
    return flat if names is None else [flat[name] for name in names]
