"""The live overlay: each person the live path touched, with the facts and behavioural tags it
maintains on top of one committed run, and how far the live path has got.

`live_profiles` holds one row per person number: the run it sits on, the shop's day its tags
are as of, the facts they are computed from (`facts`, JSON: first, last and previous order,
frequency, monetary, registration day, last seen) and the maintained tags (`tags`, JSON:
`{key: [[value, score], ...]}`). A person's live profile is the run's profile with these keys
replaced. `live_progress` (one row) says which stored events and orders were applied (`seq`),
the latest event time seen and the day the overlay is as of, so that a restart goes on where
the last commit left off. Both are written in the transaction that appends the membership
changes they cause.

A row on an older run than the current one is stale: the newer run has the events (it is the
reconciliation), and `reset_to` drops them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    Select,
    Text,
    bindparam,
    delete,
    exists,
    func,
    select,
)
from sqlmodel import Field, SQLModel

from store.live.log import LiveEvent, LiveOrder
from store.many_writes import execute_many
from store.models import PersonIdentifier, PersonNumber, Profile, Run, table_of

_NUMBER = BigInteger().with_variant(Integer, "sqlite")
# Tags as the overlay keeps them: by key, each value with its score.
Tags = dict[str, list[tuple[str, float | None]]]
# A row's facts hold, under this name, the person's recommendations as the live path fired
# them after an order of theirs ([[item_id, score, rule_rank], ...], best first).
RECOMMENDED = "recommendations"
# The row of a person a live merge retired holds only this in its facts (the number kept in
# their place) and no tags: their profile on the run is gone, as the next run will have it.
MERGED_INTO = "merged_into"
# PostgreSQL advisory lock of "a live step is under way" (`hold_steps`).
STEPS_LOCK = 26_003


class LiveProfile(SQLModel, table=True):
    """One person's live facts and maintained tags, on top of run `run_id`."""

    __tablename__ = "live_profiles"

    person_idx: int = Field(
        sa_column=Column(_NUMBER, primary_key=True, autoincrement=False)
    )  # the stable person number
    run_id: int = Field(index=True)
    day: date = Field(sa_column=Column(Date, nullable=False))  # the shop's day of the tags
    facts: str = Field(sa_column=Column(Text, nullable=False))
    tags: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class LiveProgress(SQLModel, table=True):
    """How far the live path got: stored events and orders applied (by `seq`), on which run,
    the latest event or order time seen (the shop's clock) and the day the overlay is as of."""

    __tablename__ = "live_progress"

    id: int = Field(default=1, primary_key=True)
    run_id: int
    events_through: int = Field(sa_column=Column(_NUMBER, nullable=False))
    orders_through: int = Field(sa_column=Column(_NUMBER, nullable=False))
    latest: datetime | None = Field(default=None, sa_column=Column(DateTime, nullable=True))
    day: date = Field(sa_column=Column(Date, nullable=False))


_profiles = table_of(LiveProfile)
_progress = table_of(LiveProgress)
_events = table_of(LiveEvent)
_orders = table_of(LiveOrder)
_numbers = table_of(PersonNumber)
_identifiers = table_of(PersonIdentifier)
_run_profiles = table_of(Profile)


class LiveRow(NamedTuple):
    person_idx: int
    run_id: int
    day: date
    facts: dict[str, Any]
    tags: Tags
    updated_at: datetime


class Progress(NamedTuple):
    run_id: int
    events_through: int
    orders_through: int
    latest: datetime | None
    day: date


def _row(row: Sequence[Any]) -> LiveRow:
    person_idx, run_id, day, facts, tags, updated_at = row
    decoded = {key: [(v, s) for v, s in values] for key, values in orjson.loads(tags).items()}
    return LiveRow(int(person_idx), run_id, day, orjson.loads(facts), decoded, updated_at)


_COLUMNS = [_profiles.c[name] for name in LiveRow._fields]


def overlay_of(
    *, connection: Connection, run_id: int, person_idxs: Iterable[int]
) -> dict[int, LiveRow]:
    """The live rows on run `run_id` of these persons (those the live path touched)."""
    wanted = sorted(set(person_idxs))
    found: dict[int, LiveRow] = {}
    for start in range(0, len(wanted), 10_000):  # bounded IN lists
        statement = select(*_COLUMNS).where(
            _profiles.c.run_id == run_id, _profiles.c.person_idx.in_(wanted[start : start + 10_000])
        )
        found |= {row.person_idx: row for row in map(_row, connection.execute(statement))}
    return found


class LivePerson(NamedTuple):
    """A person the live path has on a run that has no profile of them (created live since):
    the identifier they were found by, their person id and their live row."""

    identifier: str
    person_id: str
    row: LiveRow


def _live_only(run_id: int) -> Select[Any]:
    """(person id, live row) of the persons with a live row on run `run_id`, a person id in the
    registry, and no profile in the run."""
    in_run = exists().where(
        _run_profiles.c.run_id == run_id, _run_profiles.c.person_idx == _profiles.c.person_idx
    )
    return (
        select(_numbers.c.person_id, *_COLUMNS)
        .select_from(_profiles.join(_numbers, _numbers.c.number == _profiles.c.person_idx))
        .where(
            _profiles.c.run_id == run_id,
            _numbers.c.person_id.is_not(None),
            _numbers.c.retired_into.is_(None),
            ~in_run,
        )
    )


def live_only_by_person_id(
    *, connection: Connection, run_id: int, person_ids: Sequence[str]
) -> list[LivePerson]:
    """The persons among `person_ids` whom only the live path has on run `run_id` (found by
    their person id)."""
    statement = _live_only(run_id).where(_numbers.c.person_id.in_(sorted(set(person_ids))))
    return [LivePerson(row[0], row[0], _row(row[1:])) for row in connection.execute(statement)]


def live_only_by_identifier(
    *, connection: Connection, run_id: int, kind: str, identifiers: Sequence[str]
) -> list[LivePerson]:
    """The persons named by these identifiers of `kind` whom only the live path has on run
    `run_id`."""
    statement = (
        _live_only(run_id)
        .add_columns(_identifiers.c.identifier)
        .join(_identifiers, _identifiers.c.person_idx == _profiles.c.person_idx)
        .where(
            _identifiers.c.kind == kind,
            _identifiers.c.identifier.in_(sorted(set(identifiers))),
        )
    )
    return [LivePerson(row[-1], row[0], _row(row[1:-1])) for row in connection.execute(statement)]


def overlay_on(*, connection: Connection, run_id: int) -> list[LiveRow]:
    """Every live row on run `run_id`."""
    statement = select(*_COLUMNS).where(_profiles.c.run_id == run_id)
    return [_row(row) for row in connection.execute(statement)]


def write(*, connection: Connection, rows: Sequence[LiveRow]) -> None:
    """Replace the live rows of these persons, in the caller's transaction."""
    if not rows:
        return
    numbers = [row.person_idx for row in rows]
    for start in range(0, len(numbers), 10_000):
        connection.execute(
            _profiles.delete().where(_profiles.c.person_idx.in_(numbers[start : start + 10_000]))
        )
    connection.execute(
        _profiles.insert(),
        [
            {
                **row._asdict(),
                "facts": orjson.dumps(row.facts).decode(),
                "tags": orjson.dumps(row.tags).decode(),
            }
            for row in rows
        ],
    )


_RETAG = (
    _profiles.update()
    .where(_profiles.c.person_idx == bindparam("number"))
    .values(tags=bindparam("new_tags"), day=bindparam("new_day"), updated_at=bindparam("new_at"))
)


def retag(
    *, connection: Connection, tags: Sequence[tuple[int, Tags]], day: date, at: datetime
) -> None:
    """Replace the tags of persons who have a live row, their facts as they are, in the
    caller's transaction (on the driver's cursor: a step may retag thousands)."""
    rows = [
        {"number": n, "new_tags": orjson.dumps(t).decode(), "new_day": day, "new_at": at}
        for n, t in tags
    ]
    execute_many(connection, _RETAG, rows)


def hold_steps(*, connection: Connection) -> None:
    """Hold the live path for the caller's transaction, before it reads anything: one step at a
    time on a store, whichever process takes it (the step process of a killed server finishes
    the step under way, which the next server's could otherwise take too). PostgreSQL only: on
    SQLite the write lock taken for the whole step would hold ingest's writes as long; there a
    step process outlives its server by at most the step under way, and the next server's
    takes seconds to start."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(STEPS_LOCK)))


def progress(*, connection: Connection) -> Progress | None:
    """How far the live path got (None: it never ran on this store)."""
    columns = [_progress.c[name] for name in Progress._fields]
    found = connection.execute(select(*columns).where(_progress.c.id == 1)).first()
    return None if found is None else Progress(*found)


def set_progress(*, connection: Connection, to: Progress) -> None:
    """Record how far the live path got, in the caller's transaction."""
    connection.execute(_progress.delete())
    connection.execute(_progress.insert(), [{"id": 1, **to._asdict()}])


def reset_to(*, connection: Connection, run_id: int) -> int:
    """Drop the live rows of runs before `run_id` (it has their events); how many."""
    return connection.execute(_profiles.delete().where(_profiles.c.run_id < run_id)).rowcount


class LiveEventRow(NamedTuple):
    seq: int
    user_id: str | None
    device_id: str | None
    event_type: str
    ts: datetime
    item_id: str | None
    category: str | None


class LiveOrderRow(NamedTuple):
    seq: int
    order_id: str
    user_id: str
    ts: datetime
    amount: float


def events_between(
    *, connection: Connection, after: int, through: int, limit: int | None = None
) -> list[LiveEventRow]:
    """Stored events with `seq` in (after, through], in that order (the first `limit`)."""
    columns = [_events.c[name] for name in LiveEventRow._fields]
    seq = _events.c.seq
    statement = select(*columns).where(seq > after, seq <= through).order_by(seq).limit(limit)
    return [LiveEventRow(*row) for row in connection.execute(statement)]


def orders_between(
    *, connection: Connection, after: int, through: int, limit: int | None = None
) -> list[LiveOrderRow]:
    """Stored orders with `seq` in (after, through], in that order (the first `limit`)."""
    columns = [_orders.c[name] for name in LiveOrderRow._fields]
    seq = _orders.c.seq
    statement = select(*columns).where(seq > after, seq <= through).order_by(seq).limit(limit)
    return [LiveOrderRow(*row) for row in connection.execute(statement)]


def numbers_of(*, connection: Connection, kind: str, identifiers: Iterable[str]) -> dict[str, int]:
    """The person number of each identifier of `kind` the registry knows."""
    wanted = sorted(set(identifiers))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 10_000):
        statement = select(_identifiers.c.identifier, _identifiers.c.person_idx).where(
            _identifiers.c.kind == kind,
            _identifiers.c.identifier.in_(wanted[start : start + 10_000]),
        )
        found |= {identifier: int(number) for identifier, number in connection.execute(statement)}
    return found


def register(
    *,
    connection: Connection,
    run_id: int,
    new_persons: Sequence[tuple[str, str, str]],
    links: Sequence[tuple[str, str, int]],
) -> dict[tuple[str, str], int]:
    """Give each new person (kind, identifier, person_id) the next unused number, and record
    their identifier and the other `links` (kind, identifier, number) in the identifier
    registry, as a run's numbering would; the numbers given, by (kind, identifier)."""
    highest = connection.execute(select(func.max(_numbers.c.number))).scalar()
    first = 0 if highest is None else int(highest) + 1
    given = {(kind, ident): first + i for i, (kind, ident, _) in enumerate(new_persons)}
    if new_persons:
        connection.execute(
            _numbers.insert(),
            [
                {"number": given[(kind, ident)], "person_id": pid, "first_run_id": run_id}
                for kind, ident, pid in new_persons
            ],
        )
    rows = [(k, i, n) for (k, i), n in given.items()] + list(links)
    if rows:
        connection.execute(
            _identifiers.insert(),
            [{"kind": k, "identifier": i, "person_idx": n} for k, i, n in rows],
        )
    return given


def identifiers_of(*, connection: Connection, numbers: Sequence[int]) -> list[tuple[str, str, int]]:
    """Every identifier (kind, identifier, number) the registry gives these persons."""
    columns = [_identifiers.c.kind, _identifiers.c.identifier, _identifiers.c.person_idx]
    statement = select(*columns).where(_identifiers.c.person_idx.in_(sorted(set(numbers))))
    return [(kind, ident, int(n)) for kind, ident, n in connection.execute(statement)]


def retire(*, connection: Connection, into: Mapping[int, int]) -> None:
    """Merge persons, in the caller's transaction: each number of `into` is retired into the
    number it maps to (so are the numbers an earlier merge retired into it), and its
    identifiers become that person's."""
    parameters = [{"old": old, "new": new} for old, new in sorted(into.items())]
    connection.execute(
        _identifiers.update()
        .where(_identifiers.c.person_idx == bindparam("old"))
        .values(person_idx=bindparam("new")),
        parameters,
    )
    for column in (_numbers.c.number, _numbers.c.retired_into):
        connection.execute(
            _numbers.update()
            .where(column == bindparam("old"))
            .values(retired_into=bindparam("new")),
            parameters,
        )


def forget(*, connection: Connection, numbers: Sequence[int]) -> int:
    """Delete the live overlay rows of these person numbers; how many there were."""
    result = connection.execute(delete(_profiles).where(_profiles.c.person_idx.in_(list(numbers))))
    return int(result.rowcount or 0)


def person_ids_of(*, connection: Connection, numbers: Iterable[int]) -> dict[int, str]:
    """The pseudonymous person id of each person number (a forgotten person's is left out)."""
    wanted = sorted(set(numbers))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 10_000):
        statement = select(_numbers.c.number, _numbers.c.person_id).where(
            _numbers.c.number.in_(wanted[start : start + 10_000]),
            _numbers.c.person_id.is_not(None),
        )
        found |= {int(number): person_id for number, person_id in connection.execute(statement)}
    return found


def run_params(*, connection: Connection, run_id: int) -> dict[str, Any]:
    """The parameters run `run_id` was made with (its lifecycle's day limits, ...)."""
    runs = table_of(Run)
    found = connection.execute(select(runs.c.params).where(runs.c.id == run_id)).scalar()
    return dict(found or {})


def identifier_of(*, connection: Connection, numbers: Iterable[int], kind: str) -> str | None:
    """An identifier of `kind` of the first of these persons that has one (the smallest)."""
    for number in numbers:
        found = connection.execute(
            select(func.min(_identifiers.c.identifier)).where(
                _identifiers.c.person_idx == number, _identifiers.c.kind == kind
            )
        ).scalar()
        if found is not None:
            return str(found)
    return None
