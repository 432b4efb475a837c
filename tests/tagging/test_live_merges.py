"""Live merges: an event linking identifiers of two persons the run knows makes them one, as
a run over the same data would. A hand-made shop of three persons, merged in two steps (the
second by a restarted `LiveTags`): the kept number and person id, the retired numbers, the
membership changes counted by hand, and the merged person's maintained tags against a run
over every event."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store.audiences import saved as saved_audiences
from store.db import make_engine
from store.live import profiles as live_profiles
from store.live.profiles import MERGED_INTO
from store.models import PersonNumber, table_of
from store.profiles import reads as profile_reads
from store.profiles.reads import PersonTagRow
from tagging.live.incremental import MERGED, LiveTags
from tagging.live.rules import MAINTAINED
from tagging.run import RunOptions, run_tagging
from tests.factories import LINK_AB, LINK_AC, MERGE_EVENTS, MERGE_ORDER_ITEMS, MERGE_ORDERS
from tests.tagging.conftest import ID_KEY, write_csv

AUDIENCES = {
    "loyal": "frequency >= 3",
    "carts": "cart_abandoner:yes",
    "unloyal": "NOT frequency >= 3",
}


def _step(engine: Engine, post: dict) -> set[tuple[str, str, str, str]]:
    """Post one event and apply it with a LiveTags of its own (as after a restart): the
    changes, as (audience, person id, change, why)."""
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    live_tags = LiveTags(id_key=ID_KEY)
    try:
        assert ingest.take([post])["errors"] == []
        changes = live_tags.sweep(engine)
    finally:
        ingest.close()
        live_tags.close()
    return {(c.audience, c.person_id, c.change, c.why) for c in changes}


def _numbers(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            kind[0] + ident: n
            for kind in ("user_id", "device_id")
            for ident, n in live_profiles.numbers_of(
                connection=connection, kind=kind, identifiers=["u5", "d5", "d9", "u2", "d2"]
            ).items()
        }


def test_an_event_linking_two_known_persons_merges_them_as_a_run_would(
    shop_dir: Callable[..., Path], engine: Engine, tmp_path: Path
) -> None:
    folder = shop_dir(orders=MERGE_ORDERS, order_items=MERGE_ORDER_ITEMS, events=MERGE_EVENTS)
    run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.begin() as connection:
        for name, expression in AUDIENCES.items():
            saved_audiences.save(connection=connection, name=name, expression=expression, by="t")
    before = _numbers(engine)
    a, b, c = before["uu5"], before["dd9"], before["uu2"]
    assert len({a, b, c}) == 3 and before["dd5"] == a and before["dd2"] == c
    with engine.connect() as connection:
        ids = live_profiles.person_ids_of(connection=connection, numbers=[a, b, c])

    first = _step(engine, LINK_AB)
    assert first == {
        ("carts", ids[a], "entered", "cart_abandoner"),  # B's two carted pet items
        ("carts", ids[b], "left", MERGED),
        ("unloyal", ids[b], "left", MERGED),  # not entering NOT ...: B is no one now
    }
    assert _numbers(engine) == {"uu5": a, "dd5": a, "dd9": a, "uu2": c, "dd2": c}

    second = _step(engine, LINK_AC)
    assert second == {
        ("loyal", ids[c], "entered", "frequency"),  # 2 + 1 orders
        ("unloyal", ids[c], "left", "frequency"),
        ("carts", ids[c], "entered", "cart_abandoner"),
        ("carts", ids[a], "left", MERGED),
        ("unloyal", ids[a], "left", MERGED),
    }
    assert set(_numbers(engine).values()) == {c}
    numbers = table_of(PersonNumber)
    with engine.connect() as connection:
        registry = {
            n: (pid, into)
            for n, pid, into in connection.execute(
                select(numbers.c.number, numbers.c.person_id, numbers.c.retired_into)
            )
        }
        rows = live_profiles.overlay_on(connection=connection, run_id=1)
    assert {n: registry[n] for n in (a, b, c)} == {
        a: (ids[a], c),
        b: (ids[b], c),  # retired into A, then with A into C
        c: (ids[c], None),
    }
    live = {r.person_idx: r for r in rows}
    assert live[a].facts == {MERGED_INTO: c} and live[a].tags == {}
    assert live[b].facts == {MERGED_INTO: c} and live[b].tags == {}
    assert live[c].facts["frequency"] == 3 and live[c].facts["monetary"] == "60.0"
    # A run over the events so far (in a store of its own) gives u2 the same tags.
    assert _maintained(live[c].tags) == _run_tags(
        folder, tmp_path / "so_far", [LINK_AB, LINK_AC], person_id=ids[c]
    )

    # Another event of B's device, by yet another LiveTags: C's; nobody retired comes back,
    # and no saved audience reads what it changes (C's category shares).
    assert _step(engine, {**LINK_AB, "event_id": "l3", "ts": "2026-06-30T14:00:00Z"}) == set()
    with engine.connect() as connection:
        live = {r.person_idx: r for r in live_profiles.overlay_on(connection=connection, run_id=1)}
    assert live[a].facts == {MERGED_INTO: c} and live[b].facts == {MERGED_INTO: c}

    # The next run over every event, in this store: C's number with the same maintained tags,
    # A and B in it no more, every identifier C's.
    _write_events(
        folder, [LINK_AB, LINK_AC, {**LINK_AB, "event_id": "l3", "ts": "2026-06-30T14:00:00Z"}]
    )
    run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.connect() as connection:
        batch = profile_reads.tags_of_persons(
            connection=connection, run_id=2, person_idxs=[a, b, c], keys=set(MAINTAINED)
        )
        rows = live_profiles.overlay_on(connection=connection, run_id=2)
    assert rows == []  # the live rows sat on run 1
    assert {t.person_idx for t in batch} == {c}
    assert _maintained(live[c].tags) == _tags_of(batch)
    assert _numbers(engine) == {"uu5": c, "dd5": c, "dd9": c, "uu2": c, "dd2": c}


def _write_events(folder: Path, later: list[dict]) -> None:
    columns = MERGE_EVENTS.strip().splitlines()[0].split(",")
    lines = [",".join(str(e.get(k) or "") for k in columns) for e in later]
    write_csv(folder, "events", MERGE_EVENTS.strip() + "\n" + "\n".join(lines))


def _maintained(tags: dict[str, list]) -> dict[str, list]:
    return {k: sorted(v) for k, v in tags.items() if v}


def _tags_of(rows: list[PersonTagRow]) -> dict[str, list]:
    found: dict[str, list] = {}
    for t in rows:
        found.setdefault(t.key, []).append((t.value, t.score))
    return _maintained(found)


def _run_tags(folder: Path, copy: Path, later: list[dict], *, person_id: str) -> dict[str, list]:
    """The maintained tags a run over the shop and `later` events gives one person."""
    shutil.copytree(folder, copy)
    _write_events(copy, later)
    engine = make_engine(f"sqlite:///{copy / 'store.db'}")
    try:
        run_tagging(engine=engine, options=RunOptions(copy, ID_KEY))
        with engine.connect() as connection:
            (person,) = profile_reads.persons_by_person_id(
                connection=connection, run_id=1, person_ids=[person_id]
            )
            return _tags_of(
                profile_reads.tags_of_persons(
                    connection=connection,
                    run_id=1,
                    person_idxs=[person.person_idx],
                    keys=set(MAINTAINED),
                )
            )
    finally:
        engine.dispose()


def test_identifiers_met_new_then_beside_a_known_one_in_one_step_are_that_persons(
    shop_dir: Callable[..., Path], engine: Engine
) -> None:
    # A new user on a new device, then the same user on A's device, in one step: all three
    # identifiers are A's (the resolver before this graph recorded the new user for a new person
    # and for A, and the step failed on the registry's key).
    folder = shop_dir(orders=MERGE_ORDERS, order_items=MERGE_ORDER_ITEMS, events=MERGE_EVENTS)
    run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    a = _numbers(engine)["uu5"]
    new_device = {**LINK_AB, "event_id": "n1", "user_id": "unew", "device_id": "dnew"}
    known_device = {**LINK_AB, "event_id": "n2", "user_id": "unew", "device_id": "d5"}
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    live_tags = LiveTags(id_key=ID_KEY)
    try:
        assert ingest.take([new_device, known_device])["errors"] == []
        assert live_tags.sweep(engine) == []
    finally:
        ingest.close()
        live_tags.close()
    with engine.connect() as connection:
        users = live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=["unew"]
        )
        devices = live_profiles.numbers_of(
            connection=connection, kind="device_id", identifiers=["dnew", "d5"]
        )
        row = live_profiles.overlay_of(connection=connection, run_id=1, person_idxs=[a])[a]
    assert (users, devices) == ({"unew": a}, {"dnew": a, "d5": a})
    assert row.facts["last_seen"] == "2026-06-30T12:00:00"  # the shop's clock
