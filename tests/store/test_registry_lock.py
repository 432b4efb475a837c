"""A run's numbering and a live step that creates persons take turns on the registries
(PostgreSQL; on SQLite the write lock serialises them): the second waits for the first to
commit, then reads the highest number that one gave, and they never collide."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.db import make_engine
from store.live import profiles as live_profiles
from store.profiles import numbering
from tagging.live import identities
from tests.conftest import POSTGRES_URL, _reset_postgres

ID_KEY = "test-id-key-0123456789"
WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :lock"
)


@pytest.fixture
def postgres() -> Iterator[Engine]:
    if not POSTGRES_URL:
        pytest.skip("PORTRAIT_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    _reset_postgres(POSTGRES_URL)
    engine = make_engine(POSTGRES_URL)
    yield engine
    engine.dispose()
    _reset_postgres(POSTGRES_URL)


@pytest.mark.postgres
def test_a_live_step_creating_persons_waits_for_a_runs_numbering(postgres: Engine) -> None:
    persons = pd.DataFrame({"person_idx": [0, 1], "person_id": ["p_a", "p_b"]})
    known = pd.DataFrame(
        {"kind": ["user_id", "user_id"], "identifier": ["a", "b"], "person_idx": [0, 1]}
    )
    live: dict[str, object] = {}

    def live_step() -> None:
        with postgres.begin() as connection:
            found = identities.resolve(
                connection=connection, run_id=1, id_key=ID_KEY, actors=[("c", None)]
            )
            live["numbers"], live["merged"] = found.numbers, found.merged

    with postgres.connect() as run:
        transaction = run.begin()
        given = numbering.assign(run, run_id=1, persons=persons, identifiers=known)
        step = threading.Thread(target=live_step)
        step.start()
        _until_waiting(postgres, numbering.NUMBERS_LOCK)
        transaction.commit()
    step.join()
    assert given.numbers.tolist() == [0, 1]
    assert (live["numbers"], live["merged"]) == ({("user_id", "c"): 2}, {})
    with postgres.connect() as connection:
        assert live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=["a", "b", "c"]
        ) == {"a": 0, "b": 1, "c": 2}


def _until_waiting(engine: Engine, lock: int) -> None:
    """Until a transaction waits for the advisory lock `lock` (fails after 30 s)."""
    for _ in range(300):
        with engine.connect() as connection:
            if connection.execute(WAITING, {"lock": lock}).scalar():
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing waited for advisory lock {lock}")
