"""Snapshots: written in one transaction, read back exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Connection, inspect, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.audiences import bitmaps
from store.db import make_engine, unchecked_engine
from store.errors import InputError
from store.models import PersonIdentifier, PersonNumber, Run, table_of
from store.profiles import reads as profile_reads
from store.profiles.export import export_features, export_tags
from store.runs import quarantine
from store.runs.reads import current_run, kept_run, last_runs, run_reports, runs_by_id
from store.snapshot import bulk
from store.snapshot.bulk import Batches
from store.snapshot.write import Snapshot, begin_run, commit_snapshot, fail_run
from tagging.run import RunOptions, run_tagging

AS_OF = datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
_numbers = table_of(PersonNumber)
_identifiers = table_of(PersonIdentifier)


def _snapshot() -> Snapshot:
    return Snapshot(
        persons=pd.DataFrame(
            {
                "person_idx": [0, 1],
                "person_id": ["p-aaa", "p-bbb"],
                "attributes": [{"gender": "female", "region": "east_china"}, {}],
            }
        ),
        identifiers=pd.DataFrame(
            {
                "kind": ["user_id", "user_id", "device_id"],
                "identifier": ["U1", "U2", "d-9"],
                "person_idx": [0, 1, 1],
            }
        ),
        tags=pd.DataFrame(
            {
                "person_idx": [0, 0, 0, 1],
                "key": ["lifecycle", "preferred_category", "preferred_category", "lifecycle"],
                "value": ["active", "baby", "toys", "lost"],
                "score": [None, 0.75, 0.25, None],
            }
        ),
        features=pd.DataFrame({"person_idx": [0, 1], "values": [{"monetary": 12.5}, {}]}),
        definitions=[
            {
                "key": "lifecycle",
                "kind": "behavioural",
                "description": "stage",
                "source": "built_in",
                "value_type": "category",
                "values": ["active", "lost"],
            }
        ],
        quarantine=pd.DataFrame(
            {
                "source": ["orders", "orders"],
                "row_number": [3, 7],
                "reason": ["bad_timestamp", "negative_amount"],
                "raw": ['{"ts": "x"}', '{"amount": "-1"}'],
            }
        ),
        quality={
            "orders": {
                "read": 9,
                "kept": 7,
                "after_as_of": 0,
                "dropped": {"bad_timestamp": 1, "negative_amount": 1},
            }
        },
        timings={"ingest": 0.5},
        as_of=AS_OF,
    )


def _commit(engine: Engine) -> int:
    run_id = begin_run(engine=engine, source="hand-made", as_of=AS_OF, params={"k": 1})
    commit_snapshot(engine=engine, run_id=run_id, snapshot=_snapshot())
    return run_id


def test_snapshot_reads_back_exactly(store_engine: Engine) -> None:
    run_id = _commit(store_engine)
    with Session(store_engine) as session:
        run = kept_run(connection=session.connection(), run_id=None)
        assert (run.id, run.status, run.persons, run.tag_rows) == (run_id, "committed", 2, 4)
        assert run.as_of.replace(tzinfo=UTC) == AS_OF
        (report,) = run_reports(connection=session.connection(), run_ids=[run_id])
        assert report.quality["orders"]["dropped"] == {"bad_timestamp": 1, "negative_amount": 1}
        assert quarantine.counts(connection=session.connection(), run_id=run_id) == [
            ("orders", "bad_timestamp", 1),
            ("orders", "negative_amount", 1),
        ]
    with store_engine.connect() as connection:
        found = profile_reads.persons_by_identifier(
            connection=connection, run_id=run_id, identifiers=["d-9"], kind="device_id"
        )
        assert [(i, p.person_id, p.attributes, p.features) for i, p in found] == [
            ("d-9", "p-bbb", {}, {})
        ]
        tags = profile_reads.tags_of_persons(connection=connection, run_id=run_id, person_idxs=[0])
        assert [(t.key, t.value, t.score) for t in tags] == [
            ("lifecycle", "active", None),
            ("preferred_category", "baby", 0.75),
            ("preferred_category", "toys", 0.25),
        ]
        assert bitmaps.value_counts(connection=connection, run_id=run_id, key="lifecycle") == [
            ("active", 1),
            ("lost", 1),
        ]
        (person,) = profile_reads.persons_by_idx(
            connection=connection, run_id=run_id, person_idxs=[0]
        )
        assert (person.person_id, person.attributes, person.features) == (
            "p-aaa",
            {"gender": "female", "region": "east_china"},
            {"monetary": 12.5},
        )
    exported = export_tags(engine=store_engine, run_id=run_id)
    assert exported.drop(columns="score").to_dict("list") == {
        "person_id": ["p-aaa", "p-aaa", "p-aaa", "p-bbb"],
        "user_id": ["U1", "U1", "U1", "U2"],
        "key": ["lifecycle", "preferred_category", "preferred_category", "lifecycle"],
        "value": ["active", "baby", "toys", "lost"],
    }
    assert exported["score"].fillna(-1).tolist() == [-1, 0.75, 0.25, -1]


def test_failed_run_is_never_current(store_engine: Engine) -> None:
    first = _commit(store_engine)
    second = begin_run(engine=store_engine, source="x", as_of=AS_OF, params={})
    fail_run(engine=store_engine, run_id=second, error="boom")
    with Session(store_engine) as session:
        current = current_run(connection=session.connection())
        assert current is not None and current.id == first
        failed = session.get(Run, second)
        assert failed is not None and (failed.status, failed.error) == ("failed", "boom")


ORDERS = """order_id,user_id,ts,amount
o1,u1,2026-06-01T10:00:00Z,100
o2,u1,2026-06-20T10:00:00Z,50
o3,u2,2026-05-01T10:00:00Z,300
o4,u3,2026-06-29T10:00:00Z,-3
"""


def test_a_whole_run_stores_the_same_tags_on_every_backend(
    store_engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "orders.csv").write_text(ORDERS)
    options = RunOptions(folder, "test-id-key-0123456789", as_of=date(2026, 6, 30))
    result = run_tagging(engine=store_engine, options=options)
    tags = export_tags(engine=store_engine, run_id=result.run_id)
    lifecycle = tags[tags.key == "lifecycle"].set_index("user_id")["value"].to_dict()
    assert lifecycle == {"u1": "new", "u2": "active"}
    assert result.quality["orders"]["dropped"] == {"negative_amount": 1}
    with Session(store_engine) as session:
        assert quarantine.counts(connection=session.connection(), run_id=result.run_id) == [
            ("orders", "negative_amount", 1)
        ]


def test_rows_may_arrive_in_batches(store_engine: Engine) -> None:
    """Large parts of a run are streamed: several frames, written in the order they come."""
    whole = _snapshot()
    sorted_tags = whole.tags.sort_values(["key", "value", "person_idx"])
    pieces = [sorted_tags.iloc[:2], sorted_tags.iloc[2:]]
    whole.tags = Batches(len(sorted_tags), lambda: iter(pieces))
    whole.quarantine = Batches(0, lambda: iter([]))
    run_id = begin_run(engine=store_engine, source="batches", as_of=AS_OF, params={})
    commit_snapshot(engine=store_engine, run_id=run_id, snapshot=whole)
    with Session(store_engine) as session:
        run = kept_run(connection=session.connection(), run_id=None)
        assert (run.id, run.tag_rows) == (run_id, 4)
        assert quarantine.counts(connection=session.connection(), run_id=run_id) == []
    with store_engine.connect() as connection:
        tags = profile_reads.tags_of_persons(
            connection=connection, run_id=run_id, person_idxs=[0, 1]
        )
        assert [(t.person_idx, t.key, t.value) for t in tags] == [
            (0, "lifecycle", "active"),
            (0, "preferred_category", "baby"),
            (0, "preferred_category", "toys"),
            (1, "lifecycle", "lost"),
        ]


def test_one_run_at_a_time_even_when_two_start_together(store_engine: Engine) -> None:
    barrier = threading.Barrier(2)
    started: list[int] = []
    refused: list[str] = []

    def start() -> None:
        barrier.wait()
        try:
            started.append(begin_run(engine=store_engine, source="s", as_of=AS_OF, params={}))
        except InputError as error:
            refused.append(str(error))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1 and len(refused) == 1
    assert refused[0].startswith(f"run {started[0]} is still running (process {os.getpid()}, ")
    with Session(store_engine) as session:
        assert [r.id for r in last_runs(connection=session.connection(), last=10)] == started
    # Once it ends, the next run may start.
    fail_run(engine=store_engine, run_id=started[0], error="test")
    assert begin_run(engine=store_engine, source="s", as_of=AS_OF, params={}) == started[0] + 1


def _registry(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        numbers = connection.execute(
            select(_numbers.c.number, _numbers.c.person_id, _numbers.c.retired_into).order_by(
                _numbers.c.number
            )
        ).all()
        identifiers = connection.execute(
            select(_identifiers).order_by(_identifiers.c.kind, _identifiers.c.identifier)
        ).all()
    return [*map(tuple, numbers), *map(tuple, identifiers)]


@pytest.mark.parametrize("failing", ["person_numbers", "profiles", "tag_bitmaps"])
def test_a_write_that_fails_changes_nothing(
    store_engine: Engine, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A write that fails part way (after the registry, the profiles or the bitmaps are written)
    leaves the previous run current and whole, and the registries as they were."""
    first = _commit(store_engine)
    registry = _registry(store_engine)
    assert registry == [
        (0, "p-aaa", None),
        (1, "p-bbb", None),
        ("device_id", "d-9", 1),
        ("user_id", "U1", 0),
        ("user_id", "U2", 1),
    ]
    real_insert = bulk.insert_rows
    real_execute = Connection.execute

    def failing_insert(conn, table, run_id, rows):  # type: ignore[no-untyped-def]
        real_insert(conn, table, run_id, rows)
        if table.name == failing:
            raise OSError("disk full")

    def failing_execute(conn, statement, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_execute(conn, statement, *args, **kwargs)
        if getattr(getattr(statement, "table", None), "name", None) == failing:
            raise OSError("disk full")
        return result

    monkeypatch.setattr(bulk, "insert_rows", failing_insert)
    monkeypatch.setattr(Connection, "execute", failing_execute)
    snapshot = _snapshot()
    snapshot.persons["person_id"] = ["p-ccc", "p-bbb"]
    snapshot.identifiers["identifier"] = ["U3", "U2", "d-9"]
    second = begin_run(engine=store_engine, source="x", as_of=AS_OF, params={})
    with pytest.raises(OSError, match="disk full"):
        commit_snapshot(engine=store_engine, run_id=second, snapshot=snapshot)
    monkeypatch.undo()
    assert _registry(store_engine) == registry
    with Session(store_engine) as session:
        assert kept_run(connection=session.connection(), run_id=None).id == first
    with store_engine.connect() as connection:
        tags = profile_reads.tags_of_persons(connection=connection, run_id=first, person_idxs=[1])
        assert [(t.key, t.value) for t in tags] == [("lifecycle", "lost")]
        found = profile_reads.persons_by_identifier(
            connection=connection, run_id=first, identifiers=["d-9", "U1"], kind="device_id"
        )
    assert [(identifier, person.person_id) for identifier, person in found] == [("d-9", "p-bbb")]


def test_rows_made_ahead_on_a_thread_that_fail_fail_the_write(store_engine: Engine) -> None:
    """The features are read on a thread while the tags are written: a read that breaks there
    fails the commit with its own error, and the previous run stays current, whole."""
    first = _commit(store_engine)

    def broken() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({"person_idx": [0], "values": [{"monetary": 1.0}]})
        raise OSError("spill file vanished")

    snapshot = _snapshot()
    snapshot.features = Batches(2, broken)
    second = begin_run(engine=store_engine, source="x", as_of=AS_OF, params={})
    with pytest.raises(OSError, match="spill file vanished"):
        commit_snapshot(engine=store_engine, run_id=second, snapshot=snapshot)
    with Session(store_engine) as session:
        assert kept_run(connection=session.connection(), run_id=None).id == first
    assert len(export_features(engine=store_engine, run_id=second)) == 0
    kept = export_features(engine=store_engine, run_id=first)
    assert kept[["person_id", "monetary"]].fillna(-1).values.tolist() == [
        ["p-aaa", 12.5],
        ["p-bbb", -1],
    ]


def test_a_runs_as_of_is_written_once_by_its_commit(store_engine: Engine) -> None:
    running = begin_run(engine=store_engine, source="hand-made", params={})
    with store_engine.connect() as connection:
        (row,) = runs_by_id(connection=connection, run_ids=[running])
    assert (row.status, row.as_of) == ("running", None)  # the data has not said yet
    commit_snapshot(engine=store_engine, run_id=running, snapshot=_snapshot())
    failed = begin_run(engine=store_engine, source="bad", params={})
    fail_run(engine=store_engine, run_id=failed, error="InputError: no orders file")
    with store_engine.connect() as connection:
        rows = runs_by_id(connection=connection, run_ids=[running, failed])
    as_of = {r.id: (r.status, r.as_of and r.as_of.replace(tzinfo=UTC)) for r in rows}
    assert as_of == {running: ("committed", AS_OF), failed: ("failed", None)}


def test_a_store_from_before_keeps_working_without_its_as_of_constraint(
    store_engine: Engine,
) -> None:
    """Stores made when `runs.as_of` was NOT NULL get the constraint dropped when opened."""
    url = store_engine.url.render_as_string(hide_password=False)
    with store_engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA writable_schema = ON")
            connection.exec_driver_sql(
                "UPDATE sqlite_schema SET sql = replace(sql, 'as_of DATETIME,',"
                " 'as_of DATETIME NOT NULL,') WHERE name = 'runs'"
            )
            connection.exec_driver_sql("PRAGMA writable_schema = OFF")
        else:
            connection.exec_driver_sql("ALTER TABLE runs ALTER COLUMN as_of SET NOT NULL")
    store_engine.dispose()
    before = unchecked_engine(url)
    with before.connect() as connection:
        nullable = {c["name"]: c["nullable"] for c in inspect(connection).get_columns("runs")}
    before.dispose()
    assert nullable["as_of"] is False  # the store as it was

    reopened = make_engine(url)
    try:
        run_id = begin_run(engine=reopened, source="after", params={})
        with reopened.connect() as connection:
            (row,) = runs_by_id(connection=connection, run_ids=[run_id])
            if connection.dialect.name == "sqlite":
                check = connection.exec_driver_sql("PRAGMA integrity_check").scalar_one()
                assert check == "ok"
        assert (row.status, row.as_of) == ("running", None)
    finally:
        reopened.dispose()
