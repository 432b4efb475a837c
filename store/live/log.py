"""The live path's tables: events and orders posted one by one, the ones quarantined on the way
in, and the change log of saved audiences' memberships.

Events and orders are stored as batch cleaning types them (`tagging.clean`), each with `seq`, the
order in which they were acknowledged: the micro-batch that updates tags reads them by `seq`.
A repeated `event_id` (or `order_id`) is not stored twice: the unique index decides, inside the
transaction that stores the rest, so two requests racing with one id cannot both store it.

The change log is append-only; its `id` orders it, and subscribers and webhooks resume from the
last `id` they saw.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from store.many_writes import execute_many
from store.models import Run, table_of

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
SEQUENCE = BigInteger().with_variant(Integer, "sqlite")
ENTERED, LEFT = "entered", "left"
# PostgreSQL advisory locks that keep appends in id order (`_in_sequence`).
APPENDS_LOCK, CHANGES_LOCK = 26_001, 26_002
# The user of a forgotten person's order, and the person of their changes (`forget`).
FORGOTTEN = ""


class LiveEvent(SQLModel, table=True):
    """A behaviour event taken in live, typed as batch cleaning types the events file."""

    __tablename__ = "live_events"

    seq: int | None = Field(default=None, sa_column=Column(SEQUENCE, primary_key=True))
    received_at: datetime
    event_id: str | None = Field(default=None, unique=True)
    user_id: str | None = None
    device_id: str | None = None
    event_type: str
    # The shop's wall clock, as in a run: a naive timestamp.
    ts: datetime = Field(sa_column=Column(DateTime, nullable=False))
    item_id: str | None = None
    category: str | None = None
    brand: str | None = None
    platform: str | None = None
    os: str | None = None


class LiveOrder(SQLModel, table=True):
    """An order taken in live, typed as batch cleaning types the orders file."""

    __tablename__ = "live_orders"

    seq: int | None = Field(default=None, sa_column=Column(SEQUENCE, primary_key=True))
    received_at: datetime
    order_id: str = Field(unique=True)
    user_id: str
    # The shop's wall clock, as in a run: a naive timestamp.
    ts: datetime = Field(sa_column=Column(DateTime, nullable=False))
    amount: float
    discount: float = 0.0
    coupon_code: str | None = None
    pay_method: str | None = None
    channel: str | None = None


class LiveQuarantine(SQLModel, table=True):
    """An event or order posted but not used: why, the field at fault, and what was sent."""

    __tablename__ = "live_quarantine"

    id: int | None = Field(default=None, sa_column=Column(SEQUENCE, primary_key=True))
    received_at: datetime
    source: str  # events | orders | unknown (a line that is no JSON object)
    reason: str = Field(index=True)
    field: str | None = None
    raw: str = Field(sa_column=Column(Text, nullable=False))


class MembershipChange(SQLModel, table=True):
    """A person entering or leaving a saved audience, and which tag's change moved them."""

    __tablename__ = "audience_membership_changes"
    __table_args__ = (Index("ix_membership_changes_audience", "audience", "id"),)

    id: int | None = Field(default=None, sa_column=Column(SEQUENCE, primary_key=True))
    # No foreign key: deleting a saved audience keeps the history of who was in it.
    audience: str
    person_id: str
    change: str  # entered | left
    at: datetime
    why: str  # the tag key whose change moved the person


_events = table_of(LiveEvent)
_orders = table_of(LiveOrder)
_quarantine = table_of(LiveQuarantine)
_changes = table_of(MembershipChange)


class Quarantined(NamedTuple):
    source: str
    reason: str
    field: str | None
    raw: str


class Stored(NamedTuple):
    """What one append stored: the ids among those given that were stored before (so not
    again), and how many events and orders were new."""

    repeated_event_ids: frozenset[str]
    repeated_order_ids: frozenset[str]
    events: int
    orders: int


def append(
    *,
    connection: Connection,
    events: Sequence[Mapping[str, Any]],
    orders: Sequence[Mapping[str, Any]],
    quarantined: Sequence[Quarantined],
    received_at: datetime,
) -> Stored:
    """Store events, orders and quarantined rows in the caller's transaction; an event or order
    whose id is stored already is quarantined (`duplicate_event_id`, `duplicate_order_id`)."""
    at = received_at
    _in_sequence(connection, APPENDS_LOCK)
    new_events = _insert_new(connection, _events, "event_id", events, at)
    new_orders = _insert_new(connection, _orders, "order_id", orders, at)
    repeated_events = _repeated(events, "event_id", new_events)
    repeated_orders = _repeated(orders, "order_id", new_orders)
    rows = [
        *quarantined,
        *(_duplicate(e, "events", "event_id") for e in events if e["event_id"] in repeated_events),
        *(_duplicate(o, "orders", "order_id") for o in orders if o["order_id"] in repeated_orders),
    ]
    if rows:
        connection.execute(
            _quarantine.insert(), [{**row._asdict(), "received_at": at} for row in rows]
        )
    return Stored(
        frozenset(repeated_events), frozenset(repeated_orders), len(new_events), len(new_orders)
    )


def _insert_new(
    connection: Connection,
    table: Table,
    key: str,
    rows: Sequence[Mapping[str, Any]],
    at: datetime,
) -> list[tuple[int, str | None]]:
    """Insert `rows`, skipping those whose `key` is stored already; (seq, key) of the new."""
    if not rows:
        return []
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=[key])
        .returning(table.c.seq, table.c[key])
    )
    values = [{**row, "received_at": at, "ts": _naive(row["ts"])} for row in rows]
    return [(int(seq), found) for seq, found in connection.execute(statement, values)]


def _in_sequence(connection: Connection, lock: int) -> None:
    """Make appends commit in the order of their ids. PostgreSQL hands out ids when rows are
    inserted, so two concurrent appends could commit 11 before 10, and a reader that has seen
    11 would never see 10; a transaction-scoped lock serialises them. SQLite has one writer."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(lock)))


def _repeated(
    rows: Sequence[Mapping[str, Any]], key: str, new: list[tuple[int, str | None]]
) -> set[str]:
    stored = {found for _, found in new}
    return {row[key] for row in rows if row[key] is not None and row[key] not in stored}


def _duplicate(row: Mapping[str, Any], source: str, key: str) -> Quarantined:
    raw = json.dumps({k: _jsonable(v) for k, v in row.items()}, ensure_ascii=False)
    return Quarantined(source, f"duplicate_{key}", key, raw)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _naive(value: datetime) -> datetime:
    """The shop's wall clock as given (cleaning gives naive times; an aware one is kept as
    written)."""
    return value.replace(tzinfo=None)


class EventRow(NamedTuple):
    seq: int
    event_id: str | None
    user_id: str | None
    device_id: str | None
    event_type: str
    ts: datetime


def events_after(*, connection: Connection, seq: int, limit: int) -> list[EventRow]:
    """Stored events after `seq`, in the order they were acknowledged (none of a forgotten
    person's)."""
    columns = [_events.c[name] for name in EventRow._fields]
    statement = (
        select(*columns)
        .where(_events.c.seq > seq)
        .where(_events.c.user_id.is_not(None) | _events.c.device_id.is_not(None))
        .order_by(_events.c.seq)
        .limit(limit)
    )
    return [EventRow(*row) for row in connection.execute(statement)]


class OrderRow(NamedTuple):
    seq: int
    order_id: str
    user_id: str
    ts: datetime
    amount: float


def orders_after(*, connection: Connection, seq: int, limit: int) -> list[OrderRow]:
    """Stored orders after `seq`, in the order they were acknowledged (none of a forgotten
    person's)."""
    columns = [_orders.c[name] for name in OrderRow._fields]
    statement = (
        select(*columns)
        .where(_orders.c.seq > seq, _orders.c.user_id != FORGOTTEN)
        .order_by(_orders.c.seq)
        .limit(limit)
    )
    return [OrderRow(*row) for row in connection.execute(statement)]


def last_seqs(*, connection: Connection) -> tuple[int, int]:
    """The highest `seq` of events, and of orders (0 where none were taken)."""
    events = connection.execute(select(func.max(_events.c.seq))).scalar()
    orders = connection.execute(select(func.max(_orders.c.seq))).scalar()
    return int(events or 0), int(orders or 0)


class QuarantinedRow(NamedTuple):
    received_at: datetime
    source: str
    reason: str
    field: str | None
    raw: str


def quarantined(*, connection: Connection, limit: int = 1_000) -> list[QuarantinedRow]:
    """The latest quarantined posts, oldest first."""
    columns = [_quarantine.c[name] for name in QuarantinedRow._fields]
    statement = select(*columns).order_by(_quarantine.c.id.desc()).limit(limit)
    return [QuarantinedRow(*row) for row in reversed(connection.execute(statement).all())]


@contextmanager
def durable(engine: Engine) -> Iterator[Connection]:
    """A transaction whose commit returns only once it is on disk: on SQLite, synchronous=FULL
    for it (the store's connections run NORMAL, which a power cut may undo the last commits
    of); PostgreSQL's commit is durable as it comes."""
    with engine.connect() as connection:
        full = connection.dialect.name == "sqlite"
        if full:
            _synchronous(connection, "FULL")
        try:
            with connection.begin():
                yield connection
        finally:
            if full:
                _synchronous(connection, "NORMAL")


def _synchronous(connection: Connection, level: str) -> None:
    connection.exec_driver_sql(f"PRAGMA synchronous={level}")
    connection.commit()  # ends the transaction SQLAlchemy began for the pragma


def shop_timezone(*, connection: Connection) -> str:
    """The time zone of the latest committed run's shop (timestamps without an offset are read
    in it, as that run read them); UTC when no run says."""
    runs = table_of(Run)
    params = connection.execute(
        select(runs.c.params).where(runs.c.status == "committed").order_by(runs.c.id.desc())
    ).scalar()
    shop = (params or {}).get("shop") or {}
    return str(shop.get("timezone") or "UTC")


class NewChange(NamedTuple):
    """A membership change to append: `why` is the tag keys whose change moved the person, or
    `merged` (a live merge retired them)."""

    audience: str
    person_id: str
    change: str
    at: datetime
    why: str


class ChangeRow(NamedTuple):
    id: int
    audience: str
    person_id: str
    change: str
    at: datetime
    why: str


def append_changes(*, connection: Connection, changes: Iterable[NewChange]) -> list[ChangeRow]:
    """Append membership changes in the caller's transaction (`at` with its time zone); as
    appended, with their ids."""
    rows = [change._asdict() for change in changes]
    bad = [row["change"] for row in rows if row["change"] not in (ENTERED, LEFT)]
    if bad:
        raise ValueError(f"a membership change is {ENTERED!r} or {LEFT!r}, got {bad[0]!r}")
    if not rows:
        return []
    _in_sequence(connection, CHANGES_LOCK)
    if connection.dialect.name != "sqlite":
        ids: Iterable[int] = connection.execute(
            _changes.insert().returning(_changes.c.id, sort_by_parameter_order=True), rows
        ).scalars()
        return [ChangeRow(id, **row) for id, row in zip(ids, rows, strict=True)]
    # SQLite's one writer: each row takes the id one above the highest (an INTEGER PRIMARY
    # KEY), so the rows, written in order on the driver's cursor (a step may append thousands:
    # SQLAlchemy's RETURNING path spent ~12 µs a row on them), take the ids after it.
    last = last_change_id(connection=connection)
    execute_many(connection, _APPEND, rows)
    if last_change_id(connection=connection) != last + len(rows):
        raise RuntimeError("membership changes did not take consecutive ids")
    return [ChangeRow(last + 1 + i, **row) for i, row in enumerate(rows)]


_APPEND = _changes.insert()


_CHANGE_COLUMNS = [_changes.c[name] for name in ChangeRow._fields]


def changes_after(
    *, connection: Connection, after: int, limit: int, audience: str | None = None
) -> list[ChangeRow]:
    """Changes with an id above `after`, oldest first; of one audience when given (none of a
    forgotten person)."""
    statement = select(*_CHANGE_COLUMNS).where(
        _changes.c.id > after, _changes.c.person_id != FORGOTTEN
    )
    if audience is not None:
        statement = statement.where(_changes.c.audience == audience)
    rows = connection.execute(statement.order_by(_changes.c.id).limit(limit))
    return [ChangeRow(*row) for row in rows]


def last_change_id(*, connection: Connection) -> int:
    """The id of the latest change (0 when the log is empty)."""
    return int(connection.execute(select(func.max(_changes.c.id))).scalar() or 0)


def forget(*, connection: Connection, person_id: str, identifiers: Sequence[str]) -> int:
    """Erase a forgotten person from the live tables, in the caller's transaction; how many rows
    held them.

    Their events and orders keep their place (`seq`) with no identifier, and their changes
    theirs (`id`) with no person, and readers skip them: SQLite hands a deleted last id out
    again, and a reader that had seen it would skip the row given it. Their posts kept in
    quarantine (found by an identifier in what was sent) are deleted: nobody reads those in
    order.
    """
    erased = [
        connection.execute(
            update(_events)
            .where(_events.c.user_id.in_(identifiers) | _events.c.device_id.in_(identifiers))
            .values(user_id=None, device_id=None)
        ).rowcount,
        connection.execute(
            update(_orders).where(_orders.c.user_id.in_(identifiers)).values(user_id=FORGOTTEN)
        ).rowcount,
        connection.execute(
            update(_changes).where(_changes.c.person_id == person_id).values(person_id=FORGOTTEN)
        ).rowcount,
    ]
    posted = [
        _quarantine.c.raw.contains(json.dumps(i, ensure_ascii=False), autoescape=True)
        for i in identifiers
    ]
    if posted:
        erased.append(connection.execute(delete(_quarantine).where(or_(*posted))).rowcount)
    return sum(erased)
