"""The subscriptions' audit (`api.live.audits`): subscribers that ask together are written in
one transaction, each key checked against the store, a revoked key refused alone; closed, it
has finished its write and holds no store connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from api import auth
from api.live.audits import SubscriptionAudit
from store import keys
from store.db import make_engine
from store.errors import Forbidden


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite store: what is tested is the grouping, which no dialect changes (the audit on
    PostgreSQL is the subscriptions' tests'; these run the event loop in `asyncio.run`, whose
    worker threads outlive the test)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")
    yield engine
    engine.dispose()


def test_reads_asked_together_are_one_write_and_a_revoked_key_is_refused_alone(
    engine: Engine,
) -> None:
    _, crm = keys.create(engine=engine, role="analyst", name="crm")
    _, bi = keys.create(engine=engine, role="analyst", name="bi")
    _, gone = keys.create(engine=engine, role="analyst", name="gone")
    keys.revoke(engine=engine, key_id=gone.id)

    async def together() -> list[BaseException | None]:
        audit = SubscriptionAudit(engine)
        return await asyncio.gather(
            audit.audit(crm, ["p-ann", "p-bea"]),
            audit.audit(gone, ["p-cy"]),
            audit.audit(bi, ["p-dee"]),
            return_exceptions=True,
        )

    answers = asyncio.run(together())

    assert answers[0] is None and answers[2] is None
    assert isinstance(answers[1], Forbidden)
    assert str(answers[1]) == "audienceChanges: this key (gone) was revoked"
    audited = keys.audit_entries(engine=engine, limit=10)
    assert sorted((a.key_name, a.person_id) for a in audited) == [
        ("bi", "p-dee"),
        ("crm", "p-ann"),
        ("crm", "p-bea"),
    ]
    assert len({a.at for a in audited}) == 1  # one transaction's time


def test_an_operator_key_is_refused(engine: Engine) -> None:
    _, ops = keys.create(engine=engine, role="operator", name="ops")

    async def asked() -> None:
        await SubscriptionAudit(engine).audit(ops, ["p-ann"])

    with pytest.raises(Forbidden, match="needs the analyst role"):
        asyncio.run(asked())
    assert keys.audit_entries(engine=engine, limit=10) == []


def test_closing_waits_for_the_write_under_way_after_its_subscriber_left(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The subscriber is gone (its socket closed) while its reads are being written on a worker
    # thread: closing waits for that write, so the app disposes its engine with no connection
    # out, and the reads the write began are audited.
    _, crm = keys.create(engine=engine, role="analyst", name="crm")
    checking, go_on = threading.Event(), threading.Event()
    require_live = auth.require_live

    def slow_check(*args: object, **kwargs: object) -> None:
        checking.set()
        go_on.wait(5)
        require_live(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth, "require_live", slow_check)

    async def leave_then_close() -> tuple[bool, int]:
        audit = SubscriptionAudit(engine)
        subscriber = asyncio.create_task(audit.audit(crm, ["p-ann"]))
        assert await asyncio.to_thread(checking.wait, 5)
        subscriber.cancel()
        with suppress(asyncio.CancelledError):
            await subscriber
        asyncio.get_running_loop().call_later(0.5, go_on.set)
        await audit.close()
        return go_on.is_set(), engine.pool.checkedout()

    assert asyncio.run(leave_then_close()) == (True, 0)
    assert [(a.key_name, a.person_id) for a in keys.audit_entries(engine=engine, limit=10)] == [
        ("crm", "p-ann")
    ]
