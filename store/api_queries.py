"""Lean read queries for the GraphQL API's hot path.

The API answers one profile in about a millisecond, so these read with SQLAlchemy Core on a
plain `Connection` and return small named tuples: building ORM objects costs 4-5 times as
much per row (a profile of 100 persons reads ~1,800 tag rows). Statements are built once
and take their values as bound parameters, so each call only binds and executes.
Building a statement does not connect; nothing here touches a database at import.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Dialect, Select, bindparam, func, select
from sqlalchemy.sql.compiler import SQLCompiler

from store import bitmaps
from store.errors import NotFound
from store.models import (
    PersonIdentifier,
    Profile,
    Run,
    TagDefinition,
    table_of,
)
from store.profiles import decode, features_of, run_dictionary, tag_codes

USER_ID = "user_id"


_runs = table_of(Run)
_profiles = table_of(Profile)
_identifiers = table_of(PersonIdentifier)
_definitions = table_of(TagDefinition)


class RunRow(NamedTuple):
    """A run without its JSON reports, which most requests do not need."""

    id: int
    status: str
    as_of: datetime
    started_at: datetime
    finished_at: datetime | None
    source: str
    persons: int
    tag_rows: int
    error: str | None
    stored_bytes: int


class RunReportRow(NamedTuple):
    id: int
    params: dict[str, Any]
    quality: dict[str, Any]
    timings: dict[str, Any]


class PersonRow(NamedTuple):
    """A person with their feature vector (None if the run computed none for them) and their
    tags as stored (`tags_of`): one read gives a whole profile."""

    person_idx: int
    person_id: str
    attributes: dict[str, Any]
    features: dict[str, Any] | None
    tags: str = "[]"


class PersonTagRow(NamedTuple):
    """One tag of one person (its key's kind is in the run's catalog, see `tag_kinds`)."""

    person_idx: int
    key: str
    value: str
    score: float | None


class TagDefinitionRow(NamedTuple):
    key: str
    kind: str
    description: str
    source: str
    value_type: str
    values: list[str]


class TagValueCounts(NamedTuple):
    top: list[tuple[str, int]]  # (value, persons), most persons first
    distinct_values: int
    tag_rows: int  # persons with the key, counted once per value they have


_RUN_COLUMNS = [_runs.c[name] for name in RunRow._fields]
_PERSON_COLUMNS = [
    _profiles.c.person_idx,
    _profiles.c.person_id,
    _profiles.c.attributes,
    _profiles.c.features,
    _profiles.c.tags,
]

_CURRENT_RUN = (
    select(*_RUN_COLUMNS).where(_runs.c.status == "committed").order_by(_runs.c.id.desc()).limit(1)
)
_LAST_RUNS = select(*_RUN_COLUMNS).order_by(_runs.c.id.desc()).limit(bindparam("last"))
_RUNS_BY_ID = select(*_RUN_COLUMNS).where(_runs.c.id.in_(bindparam("run_ids", expanding=True)))
_RUN_REPORTS = select(*(_runs.c[name] for name in RunReportRow._fields)).where(
    _runs.c.id.in_(bindparam("run_ids", expanding=True))
)


def _persons_where(column: Any, values: str) -> Select[Any]:
    """Profiles of one run whose `column` is among the `values` bound."""
    return select(*_PERSON_COLUMNS).where(
        _profiles.c.run_id == bindparam("run_id"),
        column.in_(bindparam(values, expanding=True)),
    )


_PERSONS_BY_PERSON_ID = _persons_where(_profiles.c.person_id, "person_ids")
_PERSONS_BY_IDX = _persons_where(_profiles.c.person_idx, "person_idxs")
# An identifier names the number its person had in the newest run that met it; the profile
# of that number in the run asked about (a person keeps the number across runs).
_PERSONS_BY_IDENTIFIER = (
    select(_identifiers.c.identifier, *_PERSON_COLUMNS)
    .select_from(_identifiers.join(_profiles, _profiles.c.person_idx == _identifiers.c.person_idx))
    .where(
        _profiles.c.run_id == bindparam("run_id"),
        _identifiers.c.kind == bindparam("kind"),
        _identifiers.c.identifier.in_(bindparam("identifiers", expanding=True)),
    )
)
_TAGS_OF_PERSONS = select(_profiles.c.person_idx, _profiles.c.tags).where(
    _profiles.c.run_id == bindparam("run_id"),
    _profiles.c.person_idx.in_(bindparam("person_idxs", expanding=True)),
)
_TAG_KINDS = select(_definitions.c.key, _definitions.c.kind).where(
    _definitions.c.run_id == bindparam("run_id")
)
_TAG_DEFINITIONS = (
    select(*(_definitions.c[name] for name in TagDefinitionRow._fields))
    .where(_definitions.c.run_id == bindparam("run_id"))
    .order_by(_definitions.c.key)
)


def current_run(*, connection: Connection) -> RunRow | None:
    """The newest committed run, or None on an empty store (every request asks)."""
    rows = _point_rows(connection, _CURRENT_RUN, {})
    return RunRow(*rows[0]) if rows else None


def last_runs(*, connection: Connection, last: int) -> list[RunRow]:
    """The `last` newest runs of any status, newest first."""
    return [RunRow(*row) for row in connection.execute(_LAST_RUNS, {"last": last})]


def runs_by_id(*, connection: Connection, run_ids: list[int]) -> list[RunRow]:
    return [RunRow(*row) for row in connection.execute(_RUNS_BY_ID, {"run_ids": run_ids})]


def run_reports(*, connection: Connection, run_ids: list[int]) -> list[RunReportRow]:
    """Parameters, quality report and timings of runs."""
    rows = connection.execute(_RUN_REPORTS, {"run_ids": run_ids})
    return [RunReportRow(*row) for row in rows]


def persons_by_person_id(
    *, connection: Connection, run_id: int, person_ids: list[str]
) -> list[PersonRow]:
    """The persons of the run among `person_ids` (pseudonymous ids), with their features."""
    parameters = {"run_id": run_id, "person_ids": person_ids}
    names = run_dictionary(connection, run_id).feature_names
    rows = _point_rows(connection, _PERSONS_BY_PERSON_ID, parameters)
    return [_person(row, names) for row in rows]


def persons_by_idx(
    *, connection: Connection, run_id: int, person_idxs: list[int]
) -> list[PersonRow]:
    """The persons of the run at these positions (audience members), with their features."""
    parameters = {"run_id": run_id, "person_idxs": person_idxs}
    names = run_dictionary(connection, run_id).feature_names
    return [_person(row, names) for row in _point_rows(connection, _PERSONS_BY_IDX, parameters)]


def persons_by_identifier(
    *, connection: Connection, run_id: int, identifiers: list[str], kind: str = USER_ID
) -> list[tuple[str, PersonRow]]:
    """(identifier, person) for the shop's own ids of one kind that the run knows."""
    parameters = {"run_id": run_id, "kind": kind, "identifiers": identifiers}
    names = run_dictionary(connection, run_id).feature_names
    return [
        (row[0], _person(row[1:], names))
        for row in _point_rows(connection, _PERSONS_BY_IDENTIFIER, parameters)
    ]


def _person(row: Sequence[Any], feature_names: list[str]) -> PersonRow:
    person_idx, person_id, attributes, features, tags = row
    return PersonRow(
        person_idx, person_id, orjson.loads(attributes), features_of(features, feature_names), tags
    )


def tags_of(
    *, connection: Connection, run_id: int, person: PersonRow, keys: Collection[str] | None = None
) -> list[PersonTagRow]:
    """A person's tags as read with them (of the `keys` only, if given), by key, then score
    (highest first)."""
    codes = tag_codes(connection, run_id)
    return [PersonTagRow(*row) for row in decode(codes, person.person_idx, person.tags, keys)]


def tags_of_persons(
    *,
    connection: Connection,
    run_id: int,
    person_idxs: list[int],
    keys: Collection[str] | None = None,
) -> list[PersonTagRow]:
    """Tags of several persons (of the `keys` only, if given), ordered by person, key, then
    score (highest first)."""
    if keys is not None and not keys:
        return []
    parameters: dict[str, Any] = {"run_id": run_id, "person_idxs": sorted(set(person_idxs))}
    rows = _point_rows(connection, _TAGS_OF_PERSONS, parameters)
    codes = tag_codes(connection, run_id)
    found: list[PersonTagRow] = []
    for person_idx, tags in sorted(rows, key=lambda row: int(row[0])):
        found += [PersonTagRow(*row) for row in decode(codes, person_idx, tags, keys)]
    return found


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


def _point_rows(
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
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # Tools that watch the engine's cursor events (tracing, query logs, tests) still see these.
    watched = connection._has_events or connection.engine._has_events
    try:
        if watched:
            connection.dispatch.before_cursor_execute(
                connection, cursor, sql, arguments, None, False
            )
        cursor.execute(sql, arguments)
        rows: list[Sequence[Any]] = list(cursor.fetchall())
        processors = _processors(connection.dialect, statement, cursor.description)
        if processors is not None:
            rows = [
                tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        if watched:
            connection.dispatch.after_cursor_execute(
                connection, cursor, sql, arguments, None, False
            )
        return rows
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


def tag_kinds(*, connection: Connection, run_id: int) -> dict[str, str]:
    """The kind of each key in the run's catalog."""
    return {key: kind for key, kind in _point_rows(connection, _TAG_KINDS, {"run_id": run_id})}


def tag_definitions(*, connection: Connection, run_id: int) -> list[TagDefinitionRow]:
    """The run's tag catalog, ordered by key."""
    rows = connection.execute(_TAG_DEFINITIONS, {"run_id": run_id})
    return [TagDefinitionRow(*row) for row in rows]


def tag_value_counts(*, connection: Connection, run_id: int, key: str, top: int) -> TagValueCounts:
    """The `top` values of one tag key with the most persons (ties by value), and totals."""
    counts = bitmaps.value_counts(connection=connection, run_id=run_id, key=key)
    return TagValueCounts(
        top=counts[:top], distinct_values=len(counts), tag_rows=sum(n for _, n in counts)
    )


class HistoryRow(NamedTuple):
    """A person's values of one key on one kept run (none: the run had them without it)."""

    run_id: int
    as_of: datetime
    values: list[tuple[str, float | None]]


_HISTORY = (
    select(_runs.c.id, _runs.c.as_of, _profiles.c.tags)
    .select_from(_profiles.join(_runs, _runs.c.id == _profiles.c.run_id))
    .where(_profiles.c.person_idx == bindparam("person_idx"), _runs.c.status == "committed")
    .order_by(_runs.c.id)
)


def history(*, connection: Connection, person_idx: int, key: str) -> list[HistoryRow]:
    """A person's values of `key` on every kept run that has them, oldest run first."""
    found = []
    for run_id, as_of, tags in connection.execute(_HISTORY, {"person_idx": person_idx}):
        codes = tag_codes(connection, run_id)
        rows = decode(codes, person_idx, tags, (key,))
        found.append(HistoryRow(run_id, as_of, [(row.value, row.score) for row in rows]))
    return found


def example_user_id(*, connection: Connection, run_id: int) -> str | None:
    """One of the shop's user ids in a run (the smallest), for examples and smoke checks."""
    statement = (
        select(func.min(_identifiers.c.identifier))
        .select_from(
            _identifiers.join(_profiles, _profiles.c.person_idx == _identifiers.c.person_idx)
        )
        .where(_profiles.c.run_id == run_id, _identifiers.c.kind == USER_ID)
    )
    return connection.execute(statement).scalar_one_or_none()


def kept_run(*, connection: Connection, run_id: int | None) -> RunRow:
    """A committed run the store still keeps (the current one when `run_id` is None); NotFound
    saying why otherwise (no such run, pruned, failed, or not committed yet)."""
    if run_id is None:
        run = current_run(connection=connection)
        if run is None:
            raise NotFound("the store has no committed run yet; run `portrait run` first")
        return run
    rows = runs_by_id(connection=connection, run_ids=[run_id])
    if not rows:
        raise NotFound(f"there is no run {run_id}; `portrait runs` lists them")
    run = rows[0]
    if run.status == "pruned":
        raise NotFound(
            f"run {run_id} was pruned: the store keeps the newest PORTRAIT_KEEP_RUNS committed"
            " runs; `portrait runs` lists them"
        )
    if run.status != "committed":
        raise NotFound(f"run {run_id} is {run.status}, not committed: it holds no tags")
    return run
