"""A person created live has a profile from their first live step, against `portrait serve` as
a real process: a brand-new user's order posted to /events makes a person no run has, and
`profile(userId:)`, `profile(personId:)` and `profiles` answer them with their live tags
(audited, refused to operators), until they are forgotten."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from store import keys
from store.audiences import saved as saved_audiences
from store.profiles.pseudonym import person_id_for
from tagging.basket import BasketParams
from tagging.live.rules import MAINTAINED
from tagging.run import RunOptions, run_tagging
from tests.api.client import subscribed
from tests.api.test_serve import serving
from tests.factories import BASKET_ORDERS, write_basket_shop

ID_KEY = "test-id-key-0123456789"
WAIT_SECONDS = 30
NEWCOMER = "zoe"  # a user id no run has
ORDERED_AT = "2026-06-09T09:00:00+00:00"  # the day after the run's last order
LAST_SEEN = "2026-06-09T09:00:00"  # the same on the shop's clock (UTC), as `live` shows it
LIVE_DAY = date(2026, 6, 9)
AMOUNT = 45.0
# Zoe buys C (toys). The basket shop's rule C -> B (C in 3 of 8 baskets, with B in 2 of them;
# B in 4 of 8) recommends B, scored confidence minus B's support.
ITEM, CATEGORY, RECOMMENDED = "C", "toys", "B"
CONFIDENCE = 2 / 3
SCORE = 2 / 3 - 4 / 8
POSTED = [
    {
        "source": "orders",
        "order_id": "live-o-1",
        "user_id": NEWCOMER,
        "ts": ORDERED_AT,
        "amount": AMOUNT,
    },
    {
        "source": "order_items",
        "order_id": "live-o-1",
        "item_id": ITEM,
        "quantity": 1,
        "price": AMOUNT,
        "category": CATEGORY,
    },
]
CHANGES = """
subscription Changes($audience: String!) {
  audienceChanges(savedAudienceId: $audience, after: "0") {
    ... on MembershipChange { personId change why }
  }
}
"""
PROFILE_FIELDS = """
    personId
    attributes { age gender city memberLevel registeredAt }
    tags { key value score kind }
    rfm { recencyDays frequency monetary r f m segment }
    lifecycle
    scores { churnRisk repurchase30d brandLoyalty }
    persona { name }
    history(key: "lifecycle") { run value }
    run { id }
    live { run day lastSeen keys }
    recommendations {
      item { id } score because { antecedents { id } consequents { id } confidence }
    }
"""
PROFILE_BY_USER_ID = f"query Card($id: String) {{ profile(userId: $id) {{ {PROFILE_FIELDS} }} }}"
PROFILE_BY_PERSON_ID = f"query Card($id: ID) {{ profile(personId: $id) {{ {PROFILE_FIELDS} }} }}"
PERSON_ID_BY_USER_ID = "query Card($id: String) { profile(userId: $id) { personId } }"
PROFILES = f"query Cards($ids: [ID!]!) {{ profiles(ids: $ids) {{ {PROFILE_FIELDS} }} }}"
FORGET = """
mutation Forget($id: ID!) {
  forgetPerson(personId: $id) {
    __typename
    ... on ForgetPersonSuccess { personId runs }
  }
}
"""


@pytest.fixture
def run_id(engine: Engine, tmp_path: Path) -> int:
    """The hand-counted basket shop (tests/factories.py) tagged by a real run, and a saved
    audience of the new buyers (whom a newcomer's first order puts in it)."""
    shop = write_basket_shop(tmp_path / "shop")
    params = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1)
    run = run_tagging(engine=engine, options=RunOptions(shop, ID_KEY, basket=params))
    with engine.begin() as connection:
        saved_audiences.save(connection=connection, name="new", expression="lifecycle:new", by="t")
    return run.run_id


@pytest.fixture
def server(store_url: str, run_id: int, tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url, "PORTRAIT_ID_KEY": ID_KEY}
    with serving(env, tmp_path / "serve.log") as url:
        yield url


def _client(server: str, engine: Engine, role: str) -> httpx.Client:
    key, _ = keys.create(engine=engine, role=role, name=f"{role}-team")
    return httpx.Client(base_url=server, headers={"authorization": f"Bearer {key}"}, timeout=10)


def _graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _order_as_newcomer(server: str, engine: Engine) -> str:
    """Post the newcomer's first order; once the live step has applied it (their change into
    the saved audience `new` arrives over a WebSocket), their person id."""
    analyst, _ = keys.create(engine=engine, role="analyst", name="crm")
    ingest, _ = keys.create(engine=engine, role="ingest", name="shop")
    with subscribed(
        server, analyst, CHANGES, {"audience": "new"}, wait=WAIT_SECONDS
    ) as socket:
        posted = httpx.post(
            f"{server}/events", json=POSTED, headers={"authorization": f"Bearer {ingest}"}
        )
        assert posted.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0, "errors": []}
        change = json.loads(socket.recv(WAIT_SECONDS))["payload"]["data"]["audienceChanges"]
    person_id = person_id_for(f"user_id:{NEWCOMER}", key=ID_KEY)  # as a run would name her
    assert change == {"personId": person_id, "change": "ENTERED", "why": "lifecycle"}
    return person_id


def _audited(engine: Engine, person_id: str) -> list[tuple[str, int, str]]:
    """(key name, run, query) of the audit log's reads of the person, newest first."""
    rows = keys.audit_entries(engine=engine, person_id=person_id, limit=10)
    return [(row.key_name, row.run_id, row.query) for row in rows]


def _quintile(value: float, values: list[float], *, fewer_first: bool) -> int:
    """The run's R/F/M score of `value` among all buyers' `values`: 1 + floor(5 x the share of
    the others ranked strictly before it), at most 5 (`tagging.features.with_rfm_scores`)."""
    before = sum(1 for v in values if (v > value if fewer_first else v < value))
    return min(1 + math.floor(5 * before / (len(values) - 1)), 5)


def _expected_tags() -> list[dict[str, Any]]:
    """The newcomer's maintained tags on the live day, worked out from the shop's orders."""
    buyers: dict[str, tuple[date, int, float]] = {}
    for row in csv.DictReader(io.StringIO(BASKET_ORDERS.strip())):
        day = datetime.fromisoformat(row["ts"]).date()
        last, orders, money = buyers.get(row["user_id"], (day, 0, 0.0))
        buyers[row["user_id"]] = (max(last, day), orders + 1, money + float(row["amount"]))
    buyers[NEWCOMER] = (LIVE_DAY, 1, AMOUNT)
    recency = [float((LIVE_DAY - last).days) for last, _, _ in buyers.values()]
    r = _quintile(0.0, recency, fewer_first=True)  # the most days rank first
    f = _quintile(1.0, [float(n) for _, n, _ in buyers.values()], fewer_first=False)
    m = _quintile(AMOUNT, [money for _, _, money in buyers.values()], fewer_first=False)
    assert (r, f, m) == (5, 1, 4)  # the most recent; the fewest orders; three spent less
    tags = [
        # Her first order is within 30 days: new; one order and R >= 4: a new customer.
        ("frequency", "1", 1.0),
        ("lifecycle", "new", None),
        ("monetary", str(AMOUNT), AMOUNT),
        ("preferred_category", CATEGORY, 1.0),  # her one category
        ("recency_days", "0", 0.0),
        ("rfm_f", str(f), float(f)),
        ("rfm_m", str(m), float(m)),
        ("rfm_r", str(r), float(r)),
        ("rfm_segment", "new_customer", None),
        ("value_segment", "new", None),
    ]
    return [{"key": k, "value": v, "score": s, "kind": "BEHAVIOURAL"} for k, v, s in tags]


def _expected_profile(person_id: str, run_id: int) -> dict[str, Any]:
    return {
        "personId": person_id,
        "attributes": {
            "age": None,
            "gender": None,
            "city": None,
            "memberLevel": None,
            "registeredAt": None,
        },
        "tags": _expected_tags(),
        "rfm": {
            "recencyDays": 0,
            "frequency": 1,
            "monetary": AMOUNT,
            "r": 5,
            "f": 1,
            "m": 4,
            "segment": "new_customer",
        },
        "lifecycle": "new",
        # Only a run scores, names personas and keeps history: none has her yet.
        "scores": {"churnRisk": None, "repurchase30d": None, "brandLoyalty": None},
        "persona": None,
        "history": [],
        "run": {"id": str(run_id)},
        "live": {
            "run": str(run_id),
            "day": str(LIVE_DAY),
            "lastSeen": LAST_SEEN,
            "keys": sorted(MAINTAINED),
        },
        "recommendations": [
            {
                "item": {"id": RECOMMENDED},
                "score": SCORE,
                "because": {
                    "antecedents": [{"id": ITEM}],
                    "consequents": [{"id": RECOMMENDED}],
                    "confidence": CONFIDENCE,
                },
            }
        ],
    }


def test_a_new_users_first_order_gives_them_a_profile_with_their_live_tags(
    server: str, engine: Engine, run_id: int
) -> None:
    person_id = _order_as_newcomer(server, engine)
    with _client(server, engine, "analyst") as client:
        by_user_id = _graphql(client, PROFILE_BY_USER_ID, id=NEWCOMER)
        by_person_id = _graphql(client, PROFILE_BY_PERSON_ID, id=person_id)
        batch = _graphql(client, PROFILES, ids=["p-nobody", person_id])

    expected = _expected_profile(person_id, run_id)
    assert by_user_id == {"data": {"profile": expected}}
    assert by_person_id == {"data": {"profile": expected}}
    assert batch == {"data": {"profiles": [None, expected]}}
    # Each read is in the audit log, as a run person's is, after the change the subscriber
    # was sent; newest first.
    assert _audited(engine, person_id) == [
        ("analyst-team", run_id, "profiles (Cards)"),
        ("analyst-team", run_id, "profile (Card)"),
        ("analyst-team", run_id, "profile (Card)"),
        ("crm", run_id, "audienceChanges"),
    ]


def test_an_operator_is_refused_the_profile_of_a_person_created_live_as_any_profile(
    server: str, engine: Engine, run_id: int
) -> None:
    person_id = _order_as_newcomer(server, engine)
    with _client(server, engine, "operator") as operator:
        refused = _graphql(operator, PERSON_ID_BY_USER_ID, id=NEWCOMER)
        refused_batch = _graphql(operator, PROFILES, ids=[person_id])
    with _client(server, engine, "analyst") as analyst:
        found = _graphql(analyst, PERSON_ID_BY_USER_ID, id=NEWCOMER)

    assert refused["data"] == {"profile": None}
    assert [e["message"] for e in refused["errors"]] == [
        "profile needs the analyst role; this key (operator-team) is operator"
    ]
    assert refused_batch["data"] is None
    assert [e["message"] for e in refused_batch["errors"]] == [
        "profiles needs the analyst role; this key (operator-team) is operator"
    ]
    # There is a profile to refuse: an analyst gets it, and only the analyst's read is logged.
    assert found == {"data": {"profile": {"personId": person_id}}}
    assert _audited(engine, person_id) == [
        ("analyst-team", run_id, "profile (Card)"),
        ("crm", run_id, "audienceChanges"),
    ]


def test_a_person_created_live_and_forgotten_has_no_profile(
    server: str, engine: Engine, run_id: int
) -> None:
    person_id = _order_as_newcomer(server, engine)
    with _client(server, engine, "admin") as admin:
        before = _graphql(admin, PROFILE_BY_USER_ID, id=NEWCOMER)
        forgotten = _graphql(admin, FORGET, id=person_id)
        by_user_id = _graphql(admin, PROFILE_BY_USER_ID, id=NEWCOMER)
        by_person_id = _graphql(admin, PROFILE_BY_PERSON_ID, id=person_id)
        batch = _graphql(admin, PROFILES, ids=[person_id])
        again = _graphql(admin, FORGET, id=person_id)

    assert before == {"data": {"profile": _expected_profile(person_id, run_id)}}
    # No run had her: she is removed from none, and found by the live path's registry.
    assert forgotten == {
        "data": {
            "forgetPerson": {"__typename": "ForgetPersonSuccess", "personId": person_id, "runs": 0}
        }
    }
    assert by_user_id == {"data": {"profile": None}}
    assert by_person_id == {"data": {"profile": None}}
    assert batch == {"data": {"profiles": [None]}}
    assert again["data"]["forgetPerson"]["__typename"] == "NotFoundError"
