"""Live R, F and M ranks: the arrays a step keeps of the overlay's persons, and a step that
retags a live person whose rank another person's order moved, in that step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live import profiles as live_profiles
from store.profiles import reads as profile_reads
from store.profiles.pseudonym import person_id_for
from store.runs import reads as run_reads
from tagging.live import ranks
from tagging.live.incremental import LiveTags
from tagging.live.rules import MAINTAINED
from tagging.run import RunOptions, run_tagging
from tests.factories import SIX_BUYERS_ORDERS
from tests.tagging.conftest import ID_KEY

NAN = np.nan
ORDERS = SIX_BUYERS_ORDERS
# u3 orders 5 more (monetary 35, still third of six: rfm_m 3); then u1 orders 100 (110, the
# highest), so u3 has one buyer below them, not two: rfm_m 2, though u3 posted nothing then.
FIRST = [
    {"source": "orders", "order_id": "l1", "user_id": "u3", "ts": "2026-06-30 11:00", "amount": 5}
]
SECOND = [
    {"source": "orders", "order_id": "l2", "user_id": "u1", "ts": "2026-06-30 12:00", "amount": 100}
]


def test_live_values_keep_rows_in_place_and_a_step_overrides_them() -> None:
    held = ranks.LiveValues()
    held.set(7, (100.0, 1.0, 10.0), (1.0, 2.0, 3.0))
    held.set(8, (NAN, NAN, NAN), (None, None, None))
    held.set(9, (90.0, 2.0, 20.0), (2.0, 3.0, 4.0))
    held.set(7, (101.0, 2.0, 15.0), (5.0, 5.0, 5.0))  # replaced in its row
    held.drop(8)  # the last row (9) takes its place
    numbers, values, scores = held.with_step({9: (95.0, 3.0, 30.0), 4: (99.0, 1.0, 1.0)})
    assert len(held) == 2
    assert numbers.tolist() == [7, 9, 4]
    assert values.tolist() == [[101.0, 2.0, 15.0], [95.0, 3.0, 30.0], [99.0, 1.0, 1.0]]
    assert np.array_equal(
        scores, [[5.0, 5.0, 5.0], [2.0, 3.0, 4.0], [NAN, NAN, NAN]], equal_nan=True
    )
    again, values, _ = held.with_step({})  # a step's values are not kept
    assert (again.tolist(), values.tolist()) == ([7, 9], [[101.0, 2.0, 15.0], [90.0, 2.0, 20.0]])


def test_growing_past_its_room_keeps_every_row() -> None:
    held = ranks.LiveValues()
    for n in range(3_000):
        held.set(n, (float(n), 1.0, 2.0), (1.0, None, 3.0))
    numbers, values, scores = held.with_step({})
    assert numbers.tolist() == list(range(3_000))
    assert values[:, 0].tolist() == [float(n) for n in range(3_000)]
    assert np.array_equal(scores[2_999], [1.0, NAN, 3.0], equal_nan=True)


def test_a_step_retags_a_live_person_whose_rank_another_persons_order_moved(
    engine: Engine, shop_dir: Callable[..., Path], tmp_path: Path
) -> None:
    run_tagging(engine=engine, options=RunOptions(shop_dir(orders=ORDERS), ID_KEY))
    with engine.begin() as connection:
        saved_audiences.save(connection=connection, name="m3", expression="rfm_m = 3", by="t")
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    live_tags = LiveTags(id_key=ID_KEY)
    try:
        ingest.take(FIRST)
        first = live_tags.advance(engine, events_through=0, orders_through=1)
        ingest.take(SECOND)
        second = live_tags.advance(engine, events_through=0, orders_through=2)
    finally:
        ingest.close()
        live_tags.close()
    u3 = person_id_for("user_id:u3", key=ID_KEY)
    assert [(c.audience, c.person_id, c.change) for c in first] == []
    assert [(c.audience, c.person_id, c.change, c.why) for c in second] == [
        ("m3", u3, live.LEFT, "rfm_m")
    ]
    with engine.connect() as connection:
        run_id = run_reads.current_run(connection=connection).id  # type: ignore[union-attr]
        overlay = {
            r.person_idx: r for r in live_profiles.overlay_on(connection=connection, run_id=run_id)
        }
    # The truth: a run over the files and both live orders (the same day).
    everything = ORDERS + "l1,u3,2026-06-30T11:00:00Z,5\nl2,u1,2026-06-30T12:00:00Z,100\n"
    truth_run = run_tagging(
        engine=engine, options=RunOptions(shop_dir(orders=everything), ID_KEY)
    ).run_id
    with engine.connect() as connection:
        found = profile_reads.tags_of_persons(
            connection=connection,
            run_id=truth_run,
            person_idxs=sorted(overlay),
            keys=set(MAINTAINED),
        )
    truth: dict[int, dict[str, list]] = {n: {} for n in overlay}
    for t in found:
        truth[t.person_idx].setdefault(t.key, []).append((t.value, t.score))
    live_tags_of = {n: {k: sorted(v) for k, v in r.tags.items()} for n, r in overlay.items()}
    assert live_tags_of == {n: {k: sorted(v) for k, v in tags.items()} for n, tags in truth.items()}
    assert len(overlay) == 2
