"""Many rows on the driver's cursor (`store.many_writes.execute_many`) store what SQLAlchemy's
own executemany stores, though each distinct value is processed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, Table, insert, select
from sqlalchemy.engine import Engine

from store.many_writes import execute_many

EIGHT_HOURS_EAST = timezone(timedelta(hours=8))
NOON_UTC = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
# The same instant in two zones (equal as datetimes), a later one, and JSON values (not hashable).
ROWS = [
    {"n": 1, "at": NOON_UTC, "facts": {"orders": 1}},
    {"n": 2, "at": NOON_UTC.astimezone(EIGHT_HOURS_EAST), "facts": {"orders": 2}},
    {"n": 3, "at": NOON_UTC, "facts": [1, 2]},
    {"n": 4, "at": NOON_UTC + timedelta(days=1), "facts": {"orders": 1}},
]


def _stored(engine: Engine, table: Table, write: str) -> list[tuple]:
    metadata = table.metadata
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as connection:
        if write == "driver":
            execute_many(connection, insert(table), ROWS)
        else:
            connection.execute(insert(table), ROWS)
    with engine.connect() as connection:
        found = [tuple(row) for row in connection.execute(select(table).order_by(table.c.n))]
    metadata.drop_all(engine)
    return found


def test_rows_written_on_the_drivers_cursor_are_stored_as_sqlalchemy_stores_them(
    engine: Engine,
) -> None:
    table = Table(
        "many_writes_probe",
        MetaData(),
        Column("n", Integer, primary_key=True),
        Column("at", DateTime(timezone=True)),
        Column("facts", JSON),
    )
    driver, sqlalchemy = _stored(engine, table, "driver"), _stored(engine, table, "sqlalchemy")
    assert driver == sqlalchemy
    assert [facts for _, _, facts in driver] == [row["facts"] for row in ROWS]
    if engine.dialect.name == "sqlite":
        # SQLite keeps a datetime's wall clock as written: the two zones' texts differ, and
        # the second row is not given the first's.
        assert [at for _, at, _ in driver][:2] == [
            datetime(2026, 6, 30, 12, 0),
            datetime(2026, 6, 30, 20, 0),
        ]
