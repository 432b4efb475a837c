"""A SQLite store while another process holds its one write lock, as a run's commit does for
the whole snapshot (about 100 s at 1M users): audited reads neither wait nor fail (the audit
log has a file of its own), and a write that cannot wait any longer gets an error that says
why, while the server keeps serving."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from api.app import create_app
from store import db, keys
from store.errors import StoreBusy
from store.models import AuditEntry, table_of
from store.settings import Settings
from tests.api.client import client_for, graphql

pytestmark = pytest.mark.anyio

PROFILE = 'query Card { profile(userId: "u-1001") { personId lifecycle } }'
SAVE = """
mutation {
  saveAudience(name: "women", expression: "gender:female") {
    ... on SaveAudienceSuccess { savedAudience { name } }
  }
}
"""
HEALTH = "{ health { status } }"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A SQLite file only: PostgreSQL has no single write lock per database."""
    return f"sqlite:///{tmp_path / 'portrait.db'}"


@pytest.fixture
def settings(store_url: str, shop_run: int) -> Settings:
    return Settings(database_url=store_url)


@contextmanager
def _locked(engine: Engine) -> Iterator[None]:
    """The store's write lock, held by another connection until the test ends."""
    assert engine.url.database is not None
    writer = sqlite3.connect(engine.url.database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # what a run's commit holds until it ends
    writer.execute("UPDATE runs SET id = id WHERE 0")
    try:
        yield
    finally:
        writer.execute("ROLLBACK")
        writer.close()


async def test_reads_are_audited_while_the_store_is_locked(
    settings: Settings, engine: Engine, shop_run: int
) -> None:
    """The audit log has a file of its own: without it the audit write waits the 30 s busy
    timeout and then fails the request."""
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    with _locked(engine):
        async with client_for(create_app(settings), key=key) as client:
            body = await graphql(client, PROFILE)
        assert body == {"data": {"profile": {"personId": "p-ann", "lifecycle": "active"}}}
        entries = keys.audit_entries(engine=engine, limit=10)
    assert [(r.key_name, r.run_id, r.person_id, r.query) for r in entries] == [
        ("crm", shop_run, "p-ann", "profile (Card)")
    ]


async def test_a_write_that_outwaits_the_busy_timeout_says_why(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)  # read by each new connection
    app = create_app(settings)
    with _locked(engine):
        async with client_for(app) as client:
            body = await graphql(client, SAVE)
            assert body["data"] is None
            assert body["errors"][0]["message"] == (
                f"the store {engine.url.database} is busy: another process has held its write"
                " lock for over 0.2 s (a tagging run holds it while it commits); nothing was"
                " written, try again when it is done"
            )
            # The server keeps serving, and the audience is saved once the lock is gone.
            assert await graphql(client, HEALTH) == {"data": {"health": {"status": "ok"}}}
    async with client_for(app) as client:
        assert await graphql(client, SAVE) == {
            "data": {"saveAudience": {"savedAudience": {"name": "women"}}}
        }


def test_a_write_outside_the_api_gets_the_same_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    engine = db.make_engine(settings.database_url)
    with _locked(engine), pytest.raises(StoreBusy, match=r"is busy: .* over 0\.1 s"):
        keys.create(engine=engine, role="admin", name="root")
    engine.dispose()


def test_a_store_made_before_the_audit_file_keeps_its_audit_log(store_url: str) -> None:
    """A store of an earlier version kept the audit log in its own file: the new audit file
    starts with those entries."""
    engine = db.make_engine(store_url)
    old = table_of(AuditEntry)
    old.create(engine)  # where make_engine put it before
    at = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(old),
            [
                {
                    "at": at,
                    "key_id": 1,
                    "key_name": "crm",
                    "role": "analyst",
                    "run_id": 1,
                    "person_id": p,
                    "query": "profile (Card)",
                }
                for p in ("p-ann", "p-bob")
            ],
        )
    assert not Path(store_url.removeprefix("sqlite:///")).with_name("portrait-audit.db").exists()
    _, crm = keys.create(engine=engine, role="analyst", name="crm")
    keys.audit(engine=engine, key=crm, reads=[keys.PersonRead(2, "p-cy", "profile (Card)")])
    rows = keys.audit_entries(engine=engine, limit=10)
    assert [(r.run_id, r.person_id, r.at) for r in rows[1:]] == [(1, "p-bob", at), (1, "p-ann", at)]
    assert (rows[0].run_id, rows[0].person_id) == (2, "p-cy")
    engine.dispose()
