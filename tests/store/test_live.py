"""The live path's tables: the change log in id order per audience, its vocabulary, and a
webhook's acknowledged position that only moves forward."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine

from store.live import log as live
from store.live import webhooks
from store.live.log import ChangeRow, NewChange
from store.live.webhooks import Attempt

AT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def test_changes_are_read_back_in_id_order_per_audience(engine: Engine) -> None:
    with engine.begin() as connection:
        appended = live.append_changes(
            connection=connection,
            changes=[
                NewChange("women", "p-ann", "entered", AT, "gender"),
                NewChange("vip", "p-bob", "entered", AT, "rfm_segment"),
                NewChange("women", "p-dee", "left", AT, "lifecycle"),
            ],
        )
    with engine.connect() as connection:
        women = live.changes_after(connection=connection, after=0, limit=10, audience="women")
        after_one = live.changes_after(connection=connection, after=1, limit=1)
        last = live.last_change_id(connection=connection)
    assert women == [
        ChangeRow(1, "women", "p-ann", "entered", AT, "gender"),
        ChangeRow(3, "women", "p-dee", "left", AT, "lifecycle"),
    ]
    assert after_one == [ChangeRow(2, "vip", "p-bob", "entered", AT, "rfm_segment")]
    assert last == 3
    with engine.connect() as connection:
        assert appended == live.changes_after(connection=connection, after=0, limit=10)
    with engine.begin() as connection:
        more = live.append_changes(
            connection=connection, changes=[NewChange("vip", "p-cy", "left", AT, "rfm_segment")]
        )
    assert more == [ChangeRow(4, "vip", "p-cy", "left", AT, "rfm_segment")]


def test_a_change_is_entered_or_left(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(ValueError) as refused:
        live.append_changes(
            connection=connection, changes=[NewChange("women", "p-ann", "joined", AT, "gender")]
        )
    assert str(refused.value) == "a membership change is 'entered' or 'left', got 'joined'"


def test_a_webhooks_acknowledged_position_only_moves_forward(engine: Engine) -> None:
    with engine.begin() as connection:
        hook = webhooks.register(
            connection=connection,
            audience="women",
            url="http://127.0.0.1:9/hook",
            created_by="crm",
            key_id=None,
            start_after=4,
        )
        for first, last, delivered in [(5, 9, False), (5, 9, True), (2, 3, True)]:
            attempt = Attempt(hook.id, first, last, last - first + 1, 1, AT, 200, None, delivered)
            webhooks.record_attempt(connection=connection, attempt=attempt)
    with engine.connect() as connection:
        found = webhooks.get(connection=connection, webhook_id=hook.id)
        logged = webhooks.attempts(connection=connection, webhook_id=hook.id)
    assert found is not None and found.delivered_through == 9
    assert [(a.first_change, a.last_change, a.delivered) for a in logged] == [
        (5, 9, False),
        (5, 9, True),
        (2, 3, True),
    ]
    assert hook.secret.startswith("whsec_") and len(hook.secret) == 6 + 43


def test_a_durable_transaction_on_sqlite_syncs_fully_and_gives_its_connection_back_as_it_was(
    engine: Engine,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's commit is durable as it comes")
    with live.durable(engine) as connection:
        inside = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    with engine.connect() as connection:
        after = connection.exec_driver_sql("PRAGMA synchronous").scalar()
    assert (inside, after) == (2, 1)  # FULL, then NORMAL again (store.db's setting)
