"""API keys and the audit log of person reads.

A key is `pk_` and 32 random bytes (URL-safe base64); the store keeps its SHA-256 only, so a
copy of the store does not hand out access. Roles: operator (aggregates), analyst (persons
too, every read audited), admin (everything); ingest posts events and reads nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.engine import Engine

from store.db import audit_engine
from store.errors import InputError, NotFound
from store.models import ApiKey, ApiKeyEvent, AuditEntry, table_of

# `ingest` ranks below every reader: it may post events (POST /events) and read nothing.
ROLES = ("ingest", "operator", "analyst", "admin")
COMMAND_LINE = "command line"
_keys = table_of(ApiKey)
_events = table_of(ApiKeyEvent)
_audit = table_of(AuditEntry)


class KeyRow(NamedTuple):
    id: int
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class PersonRead(NamedTuple):
    run_id: int
    person_id: str
    query: str


_KEY_COLUMNS = [_keys.c[name] for name in KeyRow._fields]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(*, engine: Engine, role: str, name: str, by: str = COMMAND_LINE) -> tuple[str, KeyRow]:
    """A new key of `role`, made by `by`; the key is returned here and never again."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    key = "pk_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        result = connection.execute(
            insert(_keys).values(key_hash=_digest(key), role=role, name=name, created_at=now)
        )
        key_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        row = connection.execute(select(*_KEY_COLUMNS).where(_keys.c.id == key_id)).one()
        _record(connection, key_id=key_id, action="created", by=by, at=now)
    return key, KeyRow(*row)


def _record(connection: Connection, *, key_id: int, action: str, by: str, at: datetime) -> None:
    connection.execute(insert(_events).values(at=at, key_id=key_id, action=action, by=by))


class KeyEventRow(NamedTuple):
    at: datetime
    key_id: int
    action: str
    by: str


def events(*, connection: Connection) -> list[KeyEventRow]:
    """Every operation on a key, oldest first."""
    statement = select(*(_events.c[name] for name in KeyEventRow._fields)).order_by(_events.c.id)
    return [KeyEventRow(*row) for row in connection.execute(statement)]


def live_by_id(*, connection: Connection, key_id: int) -> KeyRow | None:
    """The key of that id if it is live, asked of the store (privileged mutations do)."""
    row = connection.execute(
        select(*_KEY_COLUMNS).where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
    ).first()
    return None if row is None else KeyRow(*row)


def find(*, connection: Connection, key: str) -> KeyRow | None:
    """The live (not revoked) key, or None."""
    row = connection.execute(
        select(*_KEY_COLUMNS).where(_keys.c.key_hash == _digest(key), _keys.c.revoked_at.is_(None))
    ).first()
    return None if row is None else KeyRow(*row)


def any_made(*, connection: Connection) -> bool:
    """Whether any key was ever made: once one was, every request needs a live one (revoking
    them all does not open the store again)."""
    return connection.execute(select(_keys.c.id).limit(1)).first() is not None


def listed(*, connection: Connection) -> list[KeyRow]:
    return [KeyRow(*row) for row in connection.execute(select(*_KEY_COLUMNS).order_by(_keys.c.id))]


def revoke(*, engine: Engine, key_id: int, by: str = COMMAND_LINE) -> None:
    now = datetime.now(UTC)
    with engine.begin() as connection:
        done = connection.execute(
            update(_keys)
            .where(_keys.c.id == key_id, _keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if done.rowcount != 1:
            raise NotFound(f"there is no live key with id {key_id}")
        _record(connection, key_id=key_id, action="revoked", by=by, at=now)


def audit(*, engine: Engine, key: KeyRow, reads: Iterable[PersonRead]) -> None:
    """Write the person reads of one request to the audit log (`audit_engine`'s), in one
    transaction."""
    audit_all(engine=engine, reads=[(key, reads)])


def audit_all(*, engine: Engine, reads: Iterable[tuple[KeyRow, Iterable[PersonRead]]]) -> None:
    """Write the person reads of several keys' requests to the audit log in one transaction."""
    now = datetime.now(UTC)
    rows = [
        {
            "at": now,
            "key_id": key.id,
            "key_name": key.name,
            "role": key.role,
            "run_id": read.run_id,
            "person_id": read.person_id,
            "query": read.query,
        }
        for key, its in reads
        for read in its
    ]
    if rows:
        with audit_engine(engine).begin() as connection:
            connection.execute(insert(_audit), rows)


class AuditRow(NamedTuple):
    at: datetime
    key_name: str
    role: str
    run_id: int
    person_id: str
    query: str


def audit_entries(*, engine: Engine, person_id: str | None = None, limit: int) -> list[AuditRow]:
    """The latest `limit` entries of the audit log, newest first; only reads of `person_id`
    when given."""
    query = select(*(_audit.c[name] for name in AuditRow._fields))
    if person_id is not None:
        query = query.where(_audit.c.person_id == person_id)
    with audit_engine(engine).connect() as connection:
        rows = connection.execute(query.order_by(_audit.c.id.desc()).limit(limit)).all()
    return [AuditRow(*row) for row in rows]
