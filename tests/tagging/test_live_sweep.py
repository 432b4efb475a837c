"""The sweep: with no event at all, the turn of the day moves persons on (active to
churn_risk, new to active, ...) exactly as a run of the same files as of that later day does.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from pyroaring import BitMap
from sqlalchemy.engine import Engine

from store import suppressions
from store.audiences import bitmaps
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live import profiles as live_profiles
from store.profiles import reads as profile_reads
from store.runs import reads as run_reads
from tagging.live.incremental import LiveTags
from tagging.live.rules import MAINTAINED
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

DAYS_LATER = 40
# Persons whose segments 40 days move, in the run as of the last day and as of 40 days on.
EXPECTED_MOVED = 1_666
# Keys that a day changes for the persons the sweep moves (recency_days moves for every buyer,
# and stays the run's for those it moves into no other value: see the README's Live section).
SEGMENTS = ("lifecycle", "value_segment", "rfm_segment", "rfm_r")


def _members(engine: Engine, run_id: int, key: str) -> dict[str, BitMap]:
    with engine.connect() as connection:
        return dict(bitmaps.value_members(connection=connection, run_id=run_id, key=key))


def _tags(engine: Engine, run_id: int, numbers: list[int]) -> dict[int, dict[str, list]]:
    with engine.connect() as connection:
        rows = profile_reads.tags_of_persons(
            connection=connection, run_id=run_id, person_idxs=numbers, keys=set(MAINTAINED)
        )
    found: dict[int, dict[str, list]] = {n: {} for n in numbers}
    for t in rows:
        found[t.person_idx].setdefault(t.key, []).append((t.value, t.score))
    return {n: {k: sorted(v) for k, v in tags.items()} for n, tags in found.items()}


def test_the_turn_of_the_day_moves_persons_on_as_a_later_run_does(
    engine: Engine, generated_shop: Path
) -> None:
    first = run_tagging(engine=engine, options=RunOptions(generated_shop, ID_KEY)).run_id
    with engine.connect() as connection:
        as_of = run_reads.kept_run(connection=connection, run_id=first).as_of
    later = as_of.date() + timedelta(days=DAYS_LATER)
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="active", expression="lifecycle:active", by="t"
        )
    live_tags = LiveTags(id_key=ID_KEY, clock=lambda: datetime.combine(later, time(9)))
    try:
        changes = live_tags.sweep(engine)
        again = live_tags.sweep(engine)  # the same day: nothing more to do
    finally:
        live_tags.close()
    with engine.connect() as connection:
        overlay = {
            r.person_idx: r for r in live_profiles.overlay_on(connection=connection, run_id=first)
        }
        logged = live.changes_after(connection=connection, after=0, limit=10_000)

    truth_run = run_tagging(
        engine=engine, options=RunOptions(generated_shop, ID_KEY, as_of=later)
    ).run_id
    moved = set()
    for key in SEGMENTS:
        before, after = _members(engine, first, key), _members(engine, truth_run, key)
        for value in before.keys() | after.keys():
            moved |= set(before.get(value, BitMap()) ^ after.get(value, BitMap()))
    truth = _tags(engine, truth_run, sorted(overlay))

    active_before = _members(engine, first, "lifecycle")["active"]
    active_after = _members(engine, truth_run, "lifecycle")["active"]
    with engine.connect() as connection:
        ids = live_profiles.person_ids_of(connection=connection, numbers=moved)

    assert (len(overlay), len(moved), again) == (EXPECTED_MOVED, EXPECTED_MOVED, [])
    assert set(overlay) == moved
    assert {n: {k: sorted(v) for k, v in r.tags.items()} for n, r in overlay.items()} == truth
    assert {r.day for r in overlay.values()} == {later}
    assert sorted((c.person_id, c.change, c.why) for c in changes) == sorted(
        [(ids[n], "left", "lifecycle") for n in active_before - active_after]
        + [(ids[n], "entered", "lifecycle") for n in active_after - active_before]
    )
    assert [(c.audience, c.person_id, c.change) for c in logged] == [
        (c.audience, c.person_id, c.change) for c in changes
    ]


def test_a_forgotten_person_leaves_the_live_tags_and_is_not_tagged_again(
    engine: Engine, generated_shop: Path
) -> None:
    run_id = run_tagging(engine=engine, options=RunOptions(generated_shop, ID_KEY)).run_id
    with engine.connect() as connection:
        as_of = run_reads.kept_run(connection=connection, run_id=run_id).as_of
    assert as_of is not None
    day = [as_of.date() + timedelta(days=DAYS_LATER)]
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="active", expression="lifecycle:active", by="t"
        )
    live_tags = LiveTags(id_key=ID_KEY, clock=lambda: datetime.combine(day[0], time(9)))
    try:
        live_tags.sweep(engine)
        with engine.connect() as connection:
            overlay = sorted(
                r.person_idx for r in live_profiles.overlay_on(connection=connection, run_id=run_id)
            )
            ids = live_profiles.person_ids_of(connection=connection, numbers=overlay[:3])
            last_change = live.last_change_id(connection=connection)
        assert len(overlay) == EXPECTED_MOVED
        for number in overlay[:3]:
            forgotten = suppressions.forget(
                engine=engine, person_id=ids[number], id_key=ID_KEY, by="test"
            )
            assert forgotten is not None and forgotten.live_rows >= 1
        # The process still holds their facts; a later day must not tag them again.
        day[0] += timedelta(days=DAYS_LATER)
        live_tags.sweep(engine)
    finally:
        live_tags.close()
    with engine.connect() as connection:
        after = {
            r.person_idx for r in live_profiles.overlay_on(connection=connection, run_id=run_id)
        }
        logged = live.changes_after(connection=connection, after=last_change, limit=100_000)
    assert after & set(overlay[:3]) == set()
    assert set(overlay[3:]) <= after  # everyone else is still tagged live
    assert {c.person_id for c in logged} & set(ids.values()) == set()
