"""A live merge as readers see it, against `portrait serve` as a real process: once an event
posted to /events links a person's user id to another person's device, the one merged away has
no profile to look up (as the next run will have it), their identifiers answer with the kept
person, a page of the run's audience members still shows them as the run had them, and
forgetting the kept person forgets them too."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store import keys
from store.audiences import saved as saved_audiences
from store.live import profiles as live_profiles
from store.live.log import MembershipChange
from store.models import table_of
from tagging.run import RunOptions, run_tagging
from tests.api.client import subscribed
from tests.api.test_serve import serving
from tests.factories import LINK_AB, write_merge_shop

ID_KEY = "test-id-key-0123456789"
WAIT_SECONDS = 30
CHANGES = """
subscription Changes($audience: String!) {
  audienceChanges(savedAudienceId: $audience, after: "0") {
    ... on MembershipChange { personId change why }
  }
}
"""
BY_USER_ID = """query Card($id: String) {
  profile(userId: $id) { personId tags { key value } }
}"""
BY_PERSON_ID = "query Card($id: ID) { profile(personId: $id) { personId } }"
PROFILES = "query Cards($ids: [ID!]!) { profiles(ids: $ids) { personId } }"
MEMBERS = """query Members {
  audience(expression: "cart_abandoner:yes") {
    members(first: 10) { edges { node { personId } } totalCount }
  }
}"""
FORGET = """mutation Forget($id: ID!) {
  forgetPerson(personId: $id) { ... on ForgetPersonSuccess { personId runs } }
}"""


@pytest.fixture
def run_id(engine: Engine, tmp_path: Path) -> int:
    """The merge shop tagged by a real run, and a saved audience of the cart abandoners (B
    in it; A, who has B's carts once merged, enters it)."""
    shop = write_merge_shop(tmp_path / "shop")
    run = run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="carts", expression="cart_abandoner:yes", by="t"
        )
    return run.run_id


@pytest.fixture
def server(store_url: str, run_id: int, tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url, "PORTRAIT_ID_KEY": ID_KEY}
    with serving(env, tmp_path / "serve.log") as url:
        yield url


def _graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _person_ids(engine: Engine) -> tuple[str, str]:
    """A's and B's person ids (user u5, device d9)."""
    with engine.connect() as connection:
        (a,) = live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=["u5"]
        ).values()
        (b,) = live_profiles.numbers_of(
            connection=connection, kind="device_id", identifiers=["d9"]
        ).values()
        ids = live_profiles.person_ids_of(connection=connection, numbers=[a, b])
    return ids[a], ids[b]


def test_a_person_merged_live_is_found_as_the_kept_person_and_forgotten_with_them(
    server: str, engine: Engine, run_id: int
) -> None:
    a, b = _person_ids(engine)
    analyst, _ = keys.create(engine=engine, role="analyst", name="crm")
    ingest, _ = keys.create(engine=engine, role="ingest", name="shop")
    with subscribed(server, analyst, CHANGES, {"audience": "carts"}, wait=WAIT_SECONDS) as socket:
        posted = httpx.post(
            f"{server}/events", json=[LINK_AB], headers={"authorization": f"Bearer {ingest}"}
        )
        assert posted.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0, "errors": []}
        changes = [
            json.loads(socket.recv(WAIT_SECONDS))["payload"]["data"]["audienceChanges"]
            for _ in range(2)
        ]
    assert changes == [
        {"personId": a, "change": "ENTERED", "why": "cart_abandoner"},
        {"personId": b, "change": "LEFT", "why": "merged"},
    ]
    headers = {"authorization": f"Bearer {keys.create(engine=engine, role='admin', name='dpo')[0]}"}
    with httpx.Client(base_url=server, headers=headers, timeout=10) as admin:
        by_user_id = _graphql(admin, BY_USER_ID, id="u5")
        by_b = _graphql(admin, BY_PERSON_ID, id=b)
        both = _graphql(admin, PROFILES, ids=[a, b])
        members = _graphql(admin, MEMBERS)
        forgotten = _graphql(admin, FORGET, id=a)
        members_after = _graphql(admin, MEMBERS)
        by_b_after = _graphql(admin, PROFILES, ids=[a, b])

    card = by_user_id["data"]["profile"]
    assert card["personId"] == a
    carts = [t["value"] for t in card["tags"] if t["key"] == "cart_abandoner"]
    assert carts == ["yes"]  # B's carts
    assert by_b == {"data": {"profile": None}}
    assert both == {"data": {"profiles": [{"personId": a}, None]}}
    # The run's audience: B alone, as the run had them (A's live tags are not the run's).
    run_members = {"edges": [{"node": {"personId": b}}], "totalCount": 1}
    assert members == {"data": {"audience": {"members": run_members}}}
    # A is forgotten, and with A, B: out of the run, their changes no longer naming them.
    assert forgotten == {"data": {"forgetPerson": {"personId": a, "runs": 1}}}
    assert members_after == {"data": {"audience": {"members": {"edges": [], "totalCount": 0}}}}
    assert by_b_after == {"data": {"profiles": [None, None]}}
    changes_table = table_of(MembershipChange)
    with engine.connect() as connection:
        named = connection.execute(
            select(func.count()).where(changes_table.c.person_id.in_([a, b]))
        ).scalar()
    assert named == 0
