"""Forgetting a person the live path created, before any run has them: found by their person
id (the registry's), and gone from the live overlay, the registry and the change log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store import suppressions
from store.audiences import saved as saved_audiences
from store.live import lines as live_lines
from store.live import log as live
from store.live import profiles as live_profiles
from store.profiles.pseudonym import person_id_for
from tagging.live.incremental import LiveTags
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

ORDERS = """
order_id,user_id,ts,amount,channel
o1,alice,2026-06-01T10:00:00Z,100.00,app
o2,alice,2026-06-28T10:00:00Z,50.50,app
o3,bob,2026-03-01T12:00:00Z,300,web
o4,carol,2026-05-28T09:00:00Z,80,app
"""
NEWCOMER = [
    {"event_id": "e1", "user_id": "zoe", "device_id": "d-zoe", "event_type": "add_to_cart",
     "ts": "2026-06-30T09:00:00Z", "item_id": "SKU-1", "category": "toys"},
    {"source": "orders", "order_id": "o9", "user_id": "zoe", "ts": "2026-06-30T09:05:00Z",
     "amount": "20"},
    {"source": "order_items", "order_id": "o9", "item_id": "SKU-2", "quantity": "1",
     "price": "20", "category": "baby"},
]  # fmt: skip


def test_a_person_created_live_is_forgotten_before_any_run_has_them(
    shop_dir: Callable[..., Path], engine: Engine
) -> None:
    run_tagging(engine=engine, options=RunOptions(shop_dir(orders=ORDERS), ID_KEY))
    with engine.begin() as connection:
        saved_audiences.save(connection=connection, name="new", expression="lifecycle:new", by="t")
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        assert ingest.take(NEWCOMER)["accepted"] == 3
    finally:
        ingest.close()
    live_tags = LiveTags(id_key=ID_KEY)
    try:
        live_tags.sweep(engine)
    finally:
        live_tags.close()
    zoe = person_id_for("user_id:zoe", key=ID_KEY)
    with engine.connect() as connection:
        number = live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=["zoe"]
        )
        changes = live.changes_after(connection=connection, after=0, limit=100)
    (zoes,) = number.values()
    assert [(c.person_id, c.change) for c in changes] == [(zoe, "entered")]

    forgotten = suppressions.forget(engine=engine, person_id=zoe, id_key=ID_KEY, by="test")

    # Rows of hers: the order line, the event, the order and the change (kept in place with
    # no identifier), and the overlay row.
    assert forgotten == suppressions.Forgotten(zoe, 0, 2, 0, 5)
    with engine.connect() as connection:
        assert live_profiles.overlay_of(connection=connection, run_id=1, person_idxs=[zoes]) == {}
        assert live_profiles.person_ids_of(connection=connection, numbers=[zoes]) == {}
        for kind, identifier in (("user_id", "zoe"), ("device_id", "d-zoe")):
            found = live_profiles.numbers_of(
                connection=connection, kind=kind, identifiers=[identifier]
            )
            assert found == {}
        assert live_lines.lines_of(connection=connection, order_ids=["o9"]) == []
        logged = live.changes_after(connection=connection, after=0, limit=100)
    assert [c.person_id for c in logged] == []
    # Forgetting her again finds no one; posting as her is refused.
    assert suppressions.forget(engine=engine, person_id=zoe, id_key=ID_KEY, by="test") is None
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        answer = ingest.take([NEWCOMER[0] | {"event_id": "e2"}])
    finally:
        ingest.close()
    assert answer["errors"] == [
        {"index": 0, "source": "events", "reason": "forgotten", "field": "user_id"}
    ]
