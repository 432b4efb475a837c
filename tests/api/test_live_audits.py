"""The subscriptions' audit (`api.live.audits`): subscribers that ask together are written in
one transaction, each key checked against the store, a revoked key refused alone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

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
