"""Saved audiences: name -> expression, with every earlier expression and the size on each run.

Saving under an existing name is an edit: the version goes up and the earlier expression
stays in `audience_versions`. Sizes are recorded once per (audience, run), for the version
evaluated, so `sizes` reads as the audience's size over time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from store import catalog
from store.audiences.expressions import check, parse, vocabulary
from store.audiences.index import AudienceIndex, load_index
from store.errors import ExpressionError, InputError, NotFound
from store.models import (
    AudienceChange,
    AudienceSize,
    AudienceVersion,
    Run,
    SavedAudience,
    table_of,
)

NAME = re.compile(r"[\w][\w .\-]{0,99}")


_audiences = table_of(SavedAudience)
_versions = table_of(AudienceVersion)
_sizes = table_of(AudienceSize)
_changes = table_of(AudienceChange)
_runs = table_of(Run)


class Actor(NamedTuple):
    """Who changes a saved audience: the key's name, id and role (no key: an open store)."""

    name: str
    key_id: int | None = None
    role: str | None = None


class AudienceChangeRow(NamedTuple):
    at: datetime
    action: str
    version: int
    expression: str
    by: str
    role: str | None


class SavedAudienceRow(NamedTuple):
    name: str
    expression: str
    version: int
    saved_by: str
    saved_at: datetime
    created_by: str
    created_at: datetime


class AudienceVersionRow(NamedTuple):
    version: int
    expression: str
    saved_by: str
    saved_at: datetime


class AudienceSizeRow(NamedTuple):
    run_id: int
    version: int
    persons: int
    entered: int | None  # None: no earlier run to compare with (or measured before v2)
    left: int | None
    evaluated_at: datetime


_AUDIENCE_COLUMNS = [_audiences.c[name] for name in SavedAudienceRow._fields]


def check_name(name: str) -> str:
    """The name, or InputError saying what a name may be."""
    if not NAME.fullmatch(name):
        raise InputError(
            f"audience name {name!r} must be 1-100 letters, digits, spaces, '_', '.' or '-', "
            "starting with a letter, digit or '_'"
        )
    return name


def save(
    *, connection: Connection, name: str, expression: str, by: Actor | str
) -> SavedAudienceRow:
    """Create the audience, or make `expression` its new version (by a key, or by a name
    alone); returns it as saved."""
    check_name(name)
    actor = by if isinstance(by, Actor) else Actor(by)
    by = actor.name
    now = datetime.now(UTC)
    current = get(connection=connection, name=name)
    if current is None:
        connection.execute(
            insert(_audiences).values(
                name=name,
                expression=expression,
                version=1,
                saved_by=by,
                saved_at=now,
                created_by=by,
                created_at=now,
            )
        )
        version = 1
    else:
        version = current.version + 1
        connection.execute(
            update(_audiences)
            .where(_audiences.c.name == name)
            .values(expression=expression, version=version, saved_by=by, saved_at=now)
        )
    connection.execute(
        insert(_versions).values(
            name=name, version=version, expression=expression, saved_by=by, saved_at=now
        )
    )
    action = "created" if current is None else "edited"
    _audit(connection, name=name, action=action, version=version, expression=expression, by=actor)
    saved = get(connection=connection, name=name)
    assert saved is not None
    return saved


def get(*, connection: Connection, name: str) -> SavedAudienceRow | None:
    row = connection.execute(select(*_AUDIENCE_COLUMNS).where(_audiences.c.name == name)).first()
    return None if row is None else SavedAudienceRow(*row)


def all_saved(*, connection: Connection) -> list[SavedAudienceRow]:
    rows = connection.execute(select(*_AUDIENCE_COLUMNS).order_by(_audiences.c.name))
    return [SavedAudienceRow(*row) for row in rows]


def delete_saved(*, connection: Connection, name: str, by: Actor | str = "anonymous") -> None:
    """Remove the audience with its sizes; NotFound if there is none. Its history stays in
    `audience_changes`: each version it had, recorded as deleted by `by`."""
    if get(connection=connection, name=name) is None:
        raise NotFound(f"there is no saved audience named {name!r}")
    actor = by if isinstance(by, Actor) else Actor(by)
    for row in reversed(versions(connection=connection, name=name)):
        _audit(
            connection,
            name=name,
            action="deleted",
            version=row.version,
            expression=row.expression,
            by=actor,
        )
    for table in (_sizes, _versions, _audiences):
        connection.execute(delete(table).where(table.c.name == name))


def _audit(
    connection: Connection, *, name: str, action: str, version: int, expression: str, by: Actor
) -> None:
    connection.execute(
        insert(_changes).values(
            at=datetime.now(UTC),
            name=name,
            action=action,
            version=version,
            expression=expression,
            by=by.name,
            key_id=by.key_id,
            role=by.role,
        )
    )


def changes(*, connection: Connection, name: str) -> list[AudienceChangeRow]:
    """Every change of the audience of that name, deleted ones too, oldest first."""
    statement = (
        select(*(_changes.c[field] for field in AudienceChangeRow._fields))
        .where(_changes.c.name == name)
        .order_by(_changes.c.id)
    )
    return [AudienceChangeRow(*row) for row in connection.execute(statement)]


def owner(*, connection: Connection, name: str) -> Actor | None:
    """Who created the audience now saved under `name` (its latest creation); None when its
    creation was not recorded (saved before audiences were audited)."""
    row = connection.execute(
        select(_changes.c.by, _changes.c.key_id, _changes.c.role)
        .where(_changes.c.name == name, _changes.c.action == "created")
        .order_by(_changes.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else Actor(*row)


def versions(*, connection: Connection, name: str) -> list[AudienceVersionRow]:
    """Every expression the audience has had, newest first."""
    statement = (
        select(
            _versions.c.version, _versions.c.expression, _versions.c.saved_by, _versions.c.saved_at
        )
        .where(_versions.c.name == name)
        .order_by(_versions.c.version.desc())
    )
    return [AudienceVersionRow(*row) for row in connection.execute(statement)]


def sizes(*, connection: Connection, name: str) -> list[AudienceSizeRow]:
    """The audience's size on each run it was evaluated on, oldest run first."""
    statement = (
        select(*(_sizes.c[name] for name in AudienceSizeRow._fields))
        .where(_sizes.c.name == name)
        .order_by(_sizes.c.run_id)
    )
    return [AudienceSizeRow(*row) for row in connection.execute(statement)]


def record_size(*, engine: Engine, name: str, run_id: int, version: int, persons: int) -> bool:
    """Record the size on a run unless one is recorded already; True if this call did.

    Two requests may evaluate the same audience at once: the second insert hits the primary
    key, and its own transaction is what rolls back.
    """
    exists = select(_sizes.c.run_id).where(_sizes.c.name == name, _sizes.c.run_id == run_id)
    try:
        with engine.begin() as connection:
            if connection.execute(exists).first() is not None:
                return False
            connection.execute(
                insert(_sizes).values(
                    name=name,
                    run_id=run_id,
                    version=version,
                    persons=persons,
                    evaluated_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        return False
    return True


def record_run(
    conn: Connection,
    *,
    run_id: int,
    index: AudienceIndex,
    definitions: Iterable[dict[str, Any]],
) -> dict[str, int | str]:
    """Count every saved audience on a run being committed (in its transaction), with the
    persons who entered and left it since the previous committed run, and record them.

    Returns each audience's size, or why it could not be counted on this run (an expression
    naming a key or value the run does not have); such an audience is left unmeasured.
    """
    saved = all_saved(connection=conn)
    if not saved:
        return {}
    known = vocabulary(_Definition(**d) for d in definitions)
    previous = _previous_index(conn, run_id)
    measured: dict[str, int | str] = {}
    now = datetime.now(UTC)
    for audience in saved:
        try:
            expression = parse(audience.expression)
            check(expression, known, audience.expression)
        except ExpressionError as error:
            measured[audience.name] = str(error).split("\n")[0]
            continue
        members = index.evaluate(expression)
        before = None if previous is None else previous.evaluate(expression)
        measured[audience.name] = len(members)
        conn.execute(
            insert(_sizes).values(
                name=audience.name,
                run_id=run_id,
                version=audience.version,
                persons=len(members),
                entered=None if before is None else len(members - before),
                left=None if before is None else len(before - members),
                evaluated_at=now,
            )
        )
    return measured


class _Definition(NamedTuple):
    key: str
    kind: str
    description: str
    source: str
    value_type: str
    values: list[str]


def _previous_index(conn: Connection, run_id: int) -> AudienceIndex | None:
    previous = conn.execute(
        select(_runs.c.id)
        .where(_runs.c.status == "committed", _runs.c.id < run_id)
        .order_by(_runs.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if previous is None else load_index(connection=conn, run_id=int(previous))


def measure_all(*, engine: Engine, run_id: int) -> dict[str, int | str]:
    """Count every saved audience on a committed run and record the sizes not recorded yet
    (an audience saved after the run was committed); each size, or why it was not counted."""
    with engine.connect() as connection:
        saved = all_saved(connection=connection)
        known = vocabulary(catalog.tag_definitions(connection=connection, run_id=run_id))
        index = load_index(connection=connection, run_id=run_id) if saved else None
    measured: dict[str, int | str] = {}
    for audience in saved:
        try:
            expression = parse(audience.expression)
            check(expression, known, audience.expression)
        except ExpressionError as error:
            measured[audience.name] = str(error).split("\n")[0]
            continue
        assert index is not None
        measured[audience.name] = persons = len(index.evaluate(expression))
        record_size(
            engine=engine,
            name=audience.name,
            run_id=run_id,
            version=audience.version,
            persons=persons,
        )
    return measured
