"""Bounded steps: what is stored beyond a step's limit is applied by further steps, each its
own transaction, and the result is what one unbounded step gives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store.audiences import saved as saved_audiences
from store.db import make_engine
from store.live import profiles as live_profiles
from store.live.log import NewChange
from store.runs import reads as run_reads
from tagging.live.incremental import LiveTags
from tagging.run import RunOptions, run_tagging
from tests.factories import SIX_BUYERS_ORDERS
from tests.tagging.conftest import ID_KEY

ORDERS = SIX_BUYERS_ORDERS
# Five orders and three events, the second order and the last event of a person never seen.
POSTED = [
    {"source": "orders", "order_id": "l1", "user_id": "u1", "ts": "2026-06-30 11:00", "amount": 90},
    {"source": "orders", "order_id": "l2", "user_id": "u7", "ts": "2026-06-30 11:10", "amount": 5},
    {"source": "orders", "order_id": "l3", "user_id": "u1", "ts": "2026-06-30 11:20", "amount": 1},
    {"source": "orders", "order_id": "l4", "user_id": "u2", "ts": "2026-06-30 11:30", "amount": 70},
    {"source": "orders", "order_id": "l5", "user_id": "u3", "ts": "2026-06-30 11:40", "amount": 2},
    {"event_id": "e1", "user_id": "u4", "event_type": "view", "ts": "2026-06-30 11:50"},
    {"event_id": "e2", "user_id": "u5", "event_type": "view", "ts": "2026-06-30 11:55"},
    {"event_id": "e3", "user_id": "u8", "event_type": "view", "ts": "2026-06-30 11:58"},
]
AUDIENCES = {"top": "rfm_m = 5", "loyal": "frequency >= 2", "active": "lifecycle:active"}


def _applied(engine: Engine, step_limit: int) -> tuple[list[NewChange], dict, int]:
    """The changes, the overlay (tags and facts by person) and the commits of applying
    everything posted with this step limit."""
    with engine.begin() as connection:
        for name, expression in AUDIENCES.items():
            saved_audiences.save(connection=connection, name=name, expression=expression, by="t")
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        ingest.take(POSTED)
    finally:
        ingest.close()
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    live_tags = LiveTags(id_key=ID_KEY, step_limit=step_limit)
    try:
        changes = live_tags.advance(engine, events_through=3, orders_through=5)
    finally:
        live_tags.close()
    with engine.connect() as connection:
        run_id = run_reads.current_run(connection=connection).id  # type: ignore[union-attr]
        rows = live_profiles.overlay_on(connection=connection, run_id=run_id)
        progress = live_profiles.progress(connection=connection)
        # New persons are numbered in the order steps meet them: compare by person id.
        ids = live_profiles.person_ids_of(
            connection=connection, numbers=[r.person_idx for r in rows]
        )
    assert progress is not None and (progress.events_through, progress.orders_through) == (3, 5)
    overlay = {
        ids[r.person_idx]: (r.facts, {k: sorted(v) for k, v in r.tags.items()}) for r in rows
    }
    return changes, overlay, len(commits)


def test_a_bounded_step_applies_everything_in_order_as_one_step_does(
    shop_dir: Callable[..., Path], tmp_path: Path
) -> None:
    shop = shop_dir(orders=ORDERS)
    found = {}
    for limit in (1_000, 2):
        engine = make_engine(f"sqlite:///{tmp_path / f'limit-{limit}.db'}")
        run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))
        found[limit] = _applied(engine, limit)
        engine.dispose()
    (one_changes, one_overlay, one_commits), (changes, overlay, commits) = found[1_000], found[2]
    # Orders 1-2, 3-4 and 5 with events 1-2, 3: three steps, where one step did it all.
    assert (one_commits, commits) == (1, 3)
    assert overlay == one_overlay
    assert len(overlay) == 7  # u1, u2, u3, u4, u5, and the new u7 and u8
    # The same persons end in the same audiences (a person may come and go between steps).
    assert _net(changes) == _net(one_changes)


def _net(changes: list[NewChange]) -> dict[tuple[str, str], int]:
    net: dict[tuple[str, str], int] = {}
    for c in changes:
        net[(c.audience, c.person_id)] = net.get((c.audience, c.person_id), 0) + (
            1 if c.change == "entered" else -1
        )
    return {key: n for key, n in sorted(net.items()) if n}
