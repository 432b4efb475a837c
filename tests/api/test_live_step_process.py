"""The live steps in a process of their own (`api.live.steps.StepProcess`): the changes and
the live persons that `LiveTags` gives in the server's process, and nothing lost when the
step process is killed."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import Engine

from api.live.feed import MicroBatch
from api.live.ingest import Ingest
from api.live.steps import StepFailed, StepProcess, in_own_process
from store.audiences import saved as saved_audiences
from store.db import make_engine
from store.live import log as live
from store.live import profiles as live_profiles
from store.profiles.pseudonym import person_id_for
from tagging.live.incremental import LiveTags
from tagging.run import RunOptions, run_tagging
from tests.factories import SIX_BUYERS_ORDERS

ID_KEY = "test-id-key-0123456789"
AUDIENCES = {"top": "rfm_m = 5", "loyal": "frequency >= 2", "active": "lifecycle:active"}
# Two deliveries: orders of known buyers and a newcomer, then a newcomer's view and more orders.
FIRST: list[dict[str, Any]] = [
    {"source": "orders", "order_id": "l1", "user_id": "u1", "ts": "2026-06-30 11:00", "amount": 90},
    {"source": "orders", "order_id": "l2", "user_id": "u7", "ts": "2026-06-30 11:10", "amount": 5},
    {"source": "orders", "order_id": "l3", "user_id": "u1", "ts": "2026-06-30 11:20", "amount": 1},
]
SECOND: list[dict[str, Any]] = [
    {"source": "orders", "order_id": "l4", "user_id": "u2", "ts": "2026-06-30 11:30", "amount": 70},
    {"event_id": "e1", "user_id": "u8", "event_type": "view", "ts": "2026-06-30 11:58"},
    {"source": "orders", "order_id": "l5", "user_id": "u2", "ts": "2026-06-30 11:40", "amount": 2},
]
Change = tuple[str, str, str, str]  # audience, person id, entered or left, why


def _tagged(engine: Engine, shop: Path) -> int:
    run = run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))
    with engine.begin() as connection:
        for name, expression in AUDIENCES.items():
            saved_audiences.save(connection=connection, name=name, expression=expression, by="t")
    return run.run_id


def _posted(engine: Engine, events: list[dict[str, Any]]) -> MicroBatch:
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        ingest.take(events)
    finally:
        ingest.close()
    with engine.connect() as connection:
        events_through, orders_through = live.last_seqs(connection=connection)
    return MicroBatch(0, events_through, 0, orders_through, frozenset(), frozenset())


def _seen(changes: list[live.ChangeRow]) -> list[Change]:
    return [(c.audience, c.person_id, c.change, c.why) for c in changes]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "orders.csv").write_text(SIX_BUYERS_ORDERS.strip() + "\n")
    return folder


InProcess = tuple[list[list[Change]], set[int]]


@pytest.fixture
def in_process(shop: Path, tmp_path: Path) -> InProcess:
    """The changes of each delivery and the live persons after both, with `LiveTags` here."""
    engine = make_engine(f"sqlite:///{tmp_path / 'in-process.db'}")
    tags = LiveTags(id_key=ID_KEY)
    try:
        run_id = _tagged(engine, shop)
        found = [_seen(tags(engine, _posted(engine, events))) for events in (FIRST, SECOND)]
        persons = tags.live_persons(run_id)
        assert persons is not None
        return found, set(persons)
    finally:
        tags.close()
        engine.dispose()


def test_steps_in_their_own_process_give_what_they_give_in_the_servers(
    engine: Engine, store_url: str, shop: Path, in_process: InProcess
) -> None:
    expected, expected_persons = in_process
    run_id = _tagged(engine, shop)
    steps = StepProcess(database_url=store_url, id_key=ID_KEY)
    try:
        assert steps.live_persons(run_id) is None  # nothing heard yet: the store is asked
        first = _seen(steps(engine, _posted(engine, FIRST)))
        second = _seen(steps(engine, _posted(engine, SECOND)))
        assert [first, second] == expected
        assert steps.live_persons(run_id) == expected_persons
        assert steps.live_persons(run_id + 1) is None  # another run's: not known here
    finally:
        steps.close()
    assert steps.pid is None
    # By hand: u1's two orders make three (frequency >= 2) and the most spent (101: rfm_m 5),
    # then u2's make three and 92; no one leaves an audience. The live
    # persons: u1 and u2 (numbered 0 and 1 by the run), the new u7 and u8 (6 and 7).
    u1, u2 = (person_id_for(f"user_id:{user}", key=ID_KEY) for user in ("u1", "u2"))
    assert expected == [
        [("loyal", u1, "entered", "frequency"), ("top", u1, "entered", "rfm_m")],
        [("loyal", u2, "entered", "frequency"), ("top", u2, "entered", "rfm_m")],
    ]
    assert expected_persons == {0, 1, 6, 7}


def test_a_killed_step_process_fails_its_step_and_the_next_applies_what_was_stored(
    engine: Engine, store_url: str, shop: Path, in_process: InProcess
) -> None:
    expected, expected_persons = in_process
    run_id = _tagged(engine, shop)
    steps = StepProcess(database_url=store_url, id_key=ID_KEY)
    try:
        assert _seen(steps(engine, _posted(engine, FIRST))) == expected[0]
        killed = steps.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        second = _posted(engine, SECOND)
        with pytest.raises(StepFailed, match=r"ended \(exit code -9\) during a step"):
            steps(engine, second)
        assert steps.pid is None and steps.live_persons(run_id) is None
        # A new process goes on from the store's progress: the second delivery, once.
        assert _seen(steps(engine, second)) == expected[1]
        assert steps.pid not in (None, killed)
        assert steps.live_persons(run_id) == expected_persons
        assert steps.sweep(engine) == []  # everything stored was applied
    finally:
        steps.close()


@pytest.mark.parametrize(
    ("url", "own"),
    [
        ("sqlite:///portrait.db", True),
        ("sqlite:////var/lib/portrait/portrait.db", True),
        ("postgresql+psycopg://portrait@db/portrait", True),
        ("sqlite://", False),
        ("sqlite:///:memory:", False),
    ],
)
def test_steps_run_in_their_own_process_on_a_store_another_process_can_open(
    url: str, own: bool
) -> None:
    assert in_own_process(url) is own


def test_a_step_waits_while_another_process_holds_the_live_path(
    engine: Engine, shop: Path, in_process: InProcess
) -> None:
    """On PostgreSQL a step takes the live path's lock before it reads anything: the step of a
    killed server's step process, still under way, is not taken a second time."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite steps are not held apart (see store.live.profiles.hold_steps)")
    expected, _ = in_process
    _tagged(engine, shop)
    batch = _posted(engine, FIRST)
    tags = LiveTags(id_key=ID_KEY)
    found: list[list[Change]] = []
    try:
        with engine.begin() as other:  # another process's step, under way
            live_profiles.hold_steps(connection=other)
            step = threading.Thread(target=lambda: found.append(_seen(tags(engine, batch))))
            step.start()
            _until_waiting_for_the_lock(other)
            assert found == []
        step.join()
    finally:
        tags.close()
    assert found == [expected[0]]


def _until_waiting_for_the_lock(connection: Connection) -> None:
    """Until another session waits for the live path's advisory lock (a bounded wait)."""
    waiting = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = :lock"
    )
    for _ in range(600):
        if connection.execute(waiting, {"lock": live_profiles.STEPS_LOCK}).scalar_one():
            return
        time.sleep(0.05)
    pytest.fail("no step waited for the live path's lock in 30 s")
