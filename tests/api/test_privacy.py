"""Forgetting a person (forgetPerson, portrait forget) and the suppression list later runs
respect, over HTTP on real tagging runs of a hand-made shop.

The shop: Ann (account ann, device dev-a, phone phone-1), Bob (bob, dev-b) and Cy (cy); one
order of Ann's and one of Zed's are bad (negative amounts), so they are quarantined with
their raw values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from store import suppressions
from store.audiences.index import load_index
from store.live import log as live
from store.models import (
    PersonIdentifier,
    Profile,
    Run,
    RunReport,
    Suppression,
    TagBitmap,
    table_of,
)
from store.runs import quarantine
from store.settings import Settings
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_as, graphql

pytestmark = pytest.mark.anyio

ID_KEY = "test-id-key-0123456789"
ORDERS = """order_id,user_id,ts,amount
o1,ann,2026-06-01T10:00:00Z,30
o2,ann,2026-06-10T10:00:00Z,20
o3,bob,2026-06-05T10:00:00Z,15
o4,cy,2026-06-07T10:00:00Z,40
o5,ann,2026-06-11T10:00:00Z,-5
o6,zed,2026-06-12T10:00:00Z,-1
"""
EVENTS = """event_id,user_id,device_id,event_type,ts
e1,ann,dev-a,view,2026-06-01T09:00:00Z
e2,,dev-a,view,2026-06-02T09:00:00Z
e3,bob,dev-b,view,2026-06-05T09:00:00Z
"""
IDENTITIES = """id_a,id_b,kind_a,kind_b
ann,phone-1,user_id,phone_hash
"""
# A month later Ann is back under a new account, linked to her phone; an order of hers under
# the old account is bad (and that account appears nowhere else); so is one of Bob's.
LATER_ORDERS = """order_id,user_id,ts,amount
o3,bob,2026-06-05T10:00:00Z,15
o4,cy,2026-06-07T10:00:00Z,40
o7,ann2,2026-07-01T10:00:00Z,25
o8,ann,2026-07-02T10:00:00Z,-2
o9,bob,2026-07-03T10:00:00Z,-3
"""
LATER_IDENTITIES = """id_a,id_b,kind_a,kind_b
ann2,phone-1,user_id,phone_hash
"""
FORGET = """
mutation ($id: ID!) {
  forgetPerson(personId: $id) {
    __typename
    ... on ForgetPersonSuccess { personId runs identifiers quarantinedRows }
    ... on MutationError { message field }
  }
}
"""
PROFILE = "query ($u: String) { profile(userId: $u) { personId } }"
LIVE_TABLES = ("live_events", "live_orders", "live_quarantine", "audience_membership_changes")
COUNT = '{ audience(expression: "frequency >= 1") { count } }'


def shop(folder: Path, **sources: str) -> Path:
    folder.mkdir()
    for name, content in sources.items():
        (folder / f"{name}.csv").write_text(content)
    return folder


def tag(engine: Engine, source: Path) -> int:
    return run_tagging(engine=engine, options=RunOptions(source, ID_KEY)).run_id


def count(engine: Engine, model: type, run_id: int) -> int:
    table = table_of(model)
    with engine.connect() as connection:
        statement = select(func.count()).select_from(table).where(table.c.run_id == run_id)
        return int(connection.execute(statement).scalar_one())


def memberships(engine: Engine, run_id: int) -> dict[tuple[str, str | None], int]:
    """Persons in each of a run's stored bitmaps (by key and value)."""
    table = table_of(TagBitmap)
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.key, table.c.value, table.c.persons).where(table.c.run_id == run_id)
        )
        return {(key, value): n for key, value, n in rows}


def identifiers(engine: Engine) -> list[str]:
    table = table_of(PersonIdentifier)
    with engine.connect() as connection:
        found = connection.execute(select(table.c.identifier).order_by(table.c.identifier))
        return list(found.scalars())


def quarantined(engine: Engine, run_id: int) -> list[tuple[str, str]]:
    """(order id, user id) of the run's quarantined rows."""
    with engine.connect() as connection:
        rows = quarantine.rows(connection=connection, run_id=run_id).sort_values("row_number")
    return [(json.loads(raw)["order_id"], json.loads(raw)["user_id"]) for raw in rows.raw]


@pytest.fixture
def first_run(engine: Engine, tmp_path: Path) -> int:
    return tag(engine, shop(tmp_path / "june", orders=ORDERS, events=EVENTS, identities=IDENTITIES))


@pytest.fixture
async def admin(store_url: str, engine: Engine, first_run: int) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=store_url, id_key=ID_KEY)
    async with client_as(settings, engine, role="admin", name="dpo") as client:
        yield client


async def person_of(client: httpx.AsyncClient, user_id: str) -> str | None:
    profile = (await graphql(client, PROFILE, u=user_id))["data"]["profile"]
    return None if profile is None else profile["personId"]  # type: ignore[no-any-return]


async def test_forgetting_removes_the_person_from_the_run_and_its_index(
    admin: httpx.AsyncClient, engine: Engine, first_run: int
) -> None:
    assert await graphql(admin, COUNT) == {"data": {"audience": {"count": 3}}}
    ann = await person_of(admin, "ann")
    assert ann is not None
    with engine.connect() as connection:
        number = connection.execute(
            select(table_of(Profile).c.person_idx).where(table_of(Profile).c.person_id == ann)
        ).scalar_one()
        index = load_index(connection=connection, run_id=first_run)
    held = {
        (k, v) for k, by_value in index.values.items() for v, b in by_value.items() if number in b
    }
    held |= {(k, None) for k, b in index.keys.items() if number in b}
    before = memberships(engine, first_run)
    body = await graphql(admin, FORGET, id=ann)
    # ann, dev-a and phone-1 listed; her bad order o5 deleted from the quarantine.
    assert body == {
        "data": {
            "forgetPerson": {
                "__typename": "ForgetPersonSuccess",
                "personId": ann,
                "runs": 1,
                "identifiers": 3,
                "quarantinedRows": 1,
            }
        }
    }
    assert [await person_of(admin, u) for u in ("ann", "bob")] == [
        None,
        await person_of(admin, "bob"),
    ]
    assert await graphql(admin, COUNT) == {"data": {"audience": {"count": 2}}}  # index rebuilt
    with engine.connect() as connection:
        persons = connection.execute(
            select(table_of(Run).c.persons).where(table_of(Run).c.id == first_run)
        ).scalar_one()
        listed = list(connection.execute(select(table_of(Suppression).c.digest)).scalars())
    assert persons == 2
    assert count(engine, Profile, first_run) == 2
    assert identifiers(engine) == ["bob", "cy", "dev-b"]
    # Every bitmap that held her holds one person fewer; no other changed.
    assert memberships(engine, first_run) == {
        place: n - (place in held) for place, n in before.items()
    }
    with engine.connect() as connection:
        index = load_index(connection=connection, run_id=first_run)
    assert number not in index.everyone
    assert all(number not in b for by_value in index.values.values() for b in by_value.values())
    assert all(number not in s.persons for s in index.scores.values())
    assert quarantined(engine, first_run) == [("o6", "zed")]
    assert sorted(listed) == sorted(
        suppressions.identifier_digest(kind, value, key=ID_KEY)
        for kind, value in (("user_id", "ann"), ("device_id", "dev-a"), ("phone_hash", "phone-1"))
    )
    # The list's own domain: no entry begins with (or holds) Ann's pseudonym.
    assert ({digest[:3] for digest in listed}, [ann in digest for digest in listed]) == (
        {"s2:"},
        [False, False, False],
    )
    assert await graphql(admin, FORGET, id=ann) == {
        "data": {
            "forgetPerson": {
                "__typename": "NotFoundError",
                "message": f"no run or live event holds person {ann!r}",
                "field": "personId",
            }
        }
    }


# Taken in live before Ann is forgotten: her events (by account and by device only), an order
# and a bad order (quarantined with what was sent); Bob's event and a bad one of his.
LIVE = [
    {"event_id": "l1", "user_id": "ann", "event_type": "view", "ts": "2026-06-20 10:00:00"},
    {"event_id": "l2", "device_id": "dev-a", "event_type": "view", "ts": "2026-06-20 10:01:00"},
    {"event_id": "l3", "user_id": "bob", "event_type": "view", "ts": "2026-06-20 10:02:00"},
    {"event_id": "l4", "user_id": "bob", "event_type": "view", "ts": "someday"},
    {"source": "orders", "order_id": "l5", "user_id": "ann", "ts": "2026-06-20", "amount": 9},
    {"source": "orders", "order_id": "l6", "user_id": "ann", "ts": "2026-06-20", "amount": -9},
]

LIVE_AGAIN = [
    {"event_id": "l7", "user_id": "ann", "event_type": "view", "ts": "2026-06-21 10:00:00"},
    {"event_id": "l8", "device_id": "dev-a", "event_type": "view", "ts": "2026-06-21 10:01:00"},
    {"event_id": "l9", "user_id": "bob", "event_type": "view", "ts": "2026-06-21 10:02:00"},
    {"source": "orders", "order_id": "l10", "user_id": "ann", "ts": "2026-06-21", "amount": -1},
]


async def test_forgetting_erases_the_person_from_the_live_path(
    store_url: str, engine: Engine, admin: httpx.AsyncClient
) -> None:
    settings = Settings(database_url=store_url, id_key=ID_KEY)
    async with client_as(settings, engine, role="ingest") as ingest:
        posted = await ingest.post("/events", json=LIVE)
    ann, bob = await person_of(admin, "ann"), await person_of(admin, "bob")
    assert (posted.status_code, ann is not None, bob is not None) == (200, True, True)
    at = datetime(2026, 6, 20, 10, 5, tzinfo=UTC)
    with engine.begin() as connection:
        live.append_changes(
            connection=connection,
            changes=[
                live.NewChange("women", str(ann), "entered", at, "lifecycle"),
                live.NewChange("women", str(bob), "entered", at, "lifecycle"),
            ],
        )

    body = await graphql(admin, FORGET, id=ann)
    # Posted again afterwards: refused by her account and by her device, kept nowhere.
    async with client_as(settings, engine, role="ingest") as ingest:
        again = await ingest.post("/events", json=LIVE_AGAIN)

    assert body["data"]["forgetPerson"]["__typename"] == "ForgetPersonSuccess"
    assert again.json() == {
        "accepted": 1,
        "duplicates": 0,
        "quarantined": 3,
        "errors": [
            {"index": 0, "source": "events", "reason": "forgotten", "field": "user_id"},
            {"index": 1, "source": "events", "reason": "forgotten", "field": "device_id"},
            {"index": 3, "source": "orders", "reason": "forgotten", "field": "user_id"},
        ],
    }
    with engine.connect() as connection:
        stored = {
            name: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {name}"))]
            for name in LIVE_TABLES
        }
        events = live.events_after(connection=connection, seq=0, limit=10)
        orders = live.orders_after(connection=connection, seq=0, limit=10)
        changes = live.changes_after(connection=connection, after=0, limit=10)
    # Nothing of hers is left anywhere in the live tables, whatever the column.
    assert [
        (name, value)
        for name, rows in stored.items()
        for row in rows
        for value in row
        if isinstance(value, str) and any(i in value for i in ("ann", "dev-a", str(ann)))
    ] == []
    assert [(e.event_id, e.user_id) for e in events] == [("l3", "bob"), ("l9", "bob")]
    assert (orders, [(c.person_id, c.why) for c in changes]) == ([], [(bob, "lifecycle")])
    assert [json.loads(row[-1])["event_id"] for row in stored["live_quarantine"]] == ["l4"]


async def test_later_runs_leave_the_forgotten_person_out(
    admin: httpx.AsyncClient, engine: Engine, tmp_path: Path
) -> None:
    ann = await person_of(admin, "ann")
    await graphql(admin, FORGET, id=ann)
    later = shop(tmp_path / "july", orders=LATER_ORDERS, identities=LATER_IDENTITIES)
    run_id = tag(engine, later)
    # ann2 is new, but linked to the listed phone; the bad row names the listed old account.
    assert [await person_of(admin, u) for u in ("ann2", "ann")] == [None, None]
    assert count(engine, Profile, run_id) == 2
    # The run met only Bob's and Cy's identifiers (Bob's device went with the first run's data
    # only, and is still his there).
    assert identifiers(engine) == ["bob", "cy", "dev-b"]
    assert quarantined(engine, run_id) == [("o9", "bob")]
    # The quality report counts o8 as quarantined; the run's report says where it went.
    reports = table_of(RunReport)
    with engine.connect() as connection:
        report = connection.execute(
            select(reports.c.report).where(
                reports.c.run_id == run_id, reports.c.section == "forgotten"
            )
        ).scalar_one()
    assert report == {"persons": 1, "quarantined_rows_withheld": 1}


async def test_a_person_listed_while_a_run_worked_is_forgotten_in_it(
    engine: Engine, first_run: int, tmp_path: Path
) -> None:
    # The run read the list when it started (empty); Bob's account was listed before it ended.
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO suppressions (digest, forgotten_at, forgotten_by) VALUES (:d, :t, 'x')"
            ),
            {"d": suppressions.identifier_digest("user_id", "bob", key=ID_KEY), "t": "2026-11-23"},
        )
    late = suppressions.forget_late(
        engine=engine, run_id=first_run, known=frozenset(), id_key=ID_KEY
    )
    assert late == 1
    assert count(engine, Profile, first_run) == 2  # Ann and Cy


async def test_only_an_admin_forgets(store_url: str, engine: Engine, first_run: int) -> None:
    settings = Settings(database_url=store_url, id_key=ID_KEY)
    async with client_as(settings, engine, role="analyst", name="crm") as analyst:
        ann = await person_of(analyst, "ann")
        body = await graphql(analyst, FORGET, id=ann)
        assert body["errors"][0]["message"] == (
            "forgetPerson needs the admin role; this key (crm) is analyst"
        )
        assert await person_of(analyst, "ann") == ann
        body = await graphql(analyst, FORGET, id="nobody\x00")
        assert body["errors"][0]["message"].startswith("forgetPerson needs the admin role")


async def test_a_list_written_before_it_had_a_domain_of_its_own_still_holds(
    engine: Engine, first_run: int
) -> None:
    # An entry as the list kept it before: the keyed HMAC itself, Bob's pseudonym its prefix.
    keyed = hmac.new(ID_KEY.encode(), b"user_id:bob", hashlib.sha256).hexdigest()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO suppressions (digest, forgotten_at, forgotten_by) VALUES (:d, :t, 'x')"
            ),
            {"d": keyed, "t": "2026-11-23"},
        )
    late = suppressions.forget_late(
        engine=engine, run_id=first_run, known=frozenset(), id_key=ID_KEY
    )
    assert late == 1  # read in the new domain, it still names Bob
    with engine.connect() as connection:
        listed = set(connection.execute(select(table_of(Suppression).c.digest)).scalars())
    # Rewritten in the new domain when Bob was forgotten, beside his device.
    assert listed == {
        suppressions.identifier_digest(kind, value, key=ID_KEY)
        for kind, value in (("user_id", "bob"), ("device_id", "dev-b"))
    }
