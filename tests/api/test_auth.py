"""API keys and roles over HTTP: 401 without a key once keys exist, what each role may read,
and the audit log of person reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from api.auth import NEEDS_KEY, KeyCache
from store import keys
from store.settings import Settings
from tests.api.client import client_as, client_for, graphql

pytestmark = pytest.mark.anyio

HEALTH = "{ health { status } }"
PROFILE = 'query Card { profile(userId: "u-1001") { personId lifecycle } }'
COUNT = 'query { audience(expression: "gender:female") { count } }'
MEMBERS = 'query { audience(expression: "gender:female") { members { totalCount } } }'
SAVE = """
mutation {
  saveAudience(name: "women", expression: "gender:female") {
    ... on SaveAudienceSuccess { savedAudience { savedBy } }
  }
}
"""


@pytest.fixture
def settings(store_url: str, shop_run: int) -> Settings:
    return Settings(database_url=store_url)


@pytest.fixture
async def anonymous(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    keys.create(engine=engine, role="admin", name="root")  # from now on a key is needed
    async with client_for(create_app(settings)) as client:
        yield client


async def _as(settings: Settings, engine: Engine, role: str) -> tuple[str, str]:
    key, row = keys.create(engine=engine, role=role, name=f"{role}-team")
    return key, row.name


async def test_without_a_key_the_answer_is_401(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.post("/graphql", json={"query": HEALTH})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.text == (
        "send an API key: `Authorization: Bearer KEY` (portrait keys create --role ROLE)"
    )
    wrong = await anonymous.post(
        "/graphql", json={"query": HEALTH}, headers={"authorization": "Bearer pk_nope"}
    )
    assert (wrong.status_code, wrong.text) == (
        401,
        "the API key is not a Portrait key (pk_ and 43 letters, digits, - or _)",
    )
    unknown = await anonymous.post(
        "/graphql", json={"query": HEALTH}, headers={"authorization": "Bearer pk_" + "A" * 43}
    )
    assert (unknown.status_code, unknown.text) == (401, "the API key is unknown or revoked")
    basic = await anonymous.post(
        "/graphql", json={"query": HEALTH}, headers={"authorization": "Basic dTpw"}
    )
    assert basic.text == "the Authorization header must be `Bearer KEY`"


async def test_an_operator_sees_aggregates_only(settings: Settings, engine: Engine) -> None:
    key, name = await _as(settings, engine, "operator")
    async with client_for(create_app(settings), key=key) as client:
        # 2 of 4 persons is under the minimum audience of 50: a range (tests/api/test_disclosure.py)
        assert await graphql(client, COUNT) == {"data": {"audience": {"count": None}}}
        body = await graphql(client, PROFILE)
        assert body["data"] == {"profile": None}
        assert body["errors"][0]["message"] == (
            "profile needs the analyst role; this key (operator-team) is operator"
        )
        body = await graphql(client, MEMBERS)
        assert body["errors"][0]["message"] == (
            "audience members needs the analyst role; this key (operator-team) is operator"
        )
        assert await graphql(client, SAVE) == {
            "data": {"saveAudience": {"savedAudience": {"savedBy": name}}}
        }


async def test_an_analysts_person_reads_are_audited(
    settings: Settings, engine: Engine, shop_run: int
) -> None:
    key, name = await _as(settings, engine, "analyst")
    async with client_for(create_app(settings), key=key) as client:
        body = await graphql(client, PROFILE)
        assert body == {"data": {"profile": {"personId": "p-ann", "lifecycle": "active"}}}
        await graphql(client, MEMBERS)
    rows = keys.audit_entries(engine=engine, limit=10)
    # Ann's profile, then the members page (it reads its persons, Ann and Dee, even when only
    # totalCount is asked); newest first.
    assert [(r.key_name, r.role, r.run_id, r.person_id, r.query) for r in rows] == [
        (name, "analyst", shop_run, "p-dee", "audience (anonymous)"),
        (name, "analyst", shop_run, "p-ann", "audience (anonymous)"),
        (name, "analyst", shop_run, "p-ann", "profile (Card)"),
    ]
    assert all("u-1001" not in str(value) for row in rows for value in row)  # no raw ids
    ann = keys.audit_entries(engine=engine, person_id="p-ann", limit=1)
    assert [(r.person_id, r.query) for r in ann] == [("p-ann", "audience (anonymous)")]


async def test_a_revoked_key_is_refused(settings: Settings, engine: Engine) -> None:
    key, _ = await _as(settings, engine, "admin")
    uncached = replace(settings, key_cache_seconds=0)  # the default trusts a lookup for 2 s
    async with client_for(create_app(uncached), key=key) as client:
        assert (await client.post("/graphql", json={"query": HEALTH})).status_code == 200
        with engine.connect() as connection:
            row = keys.find(connection=connection, key=key)
        assert row is not None
        keys.revoke(engine=engine, key_id=row.id)
        assert (await client.post("/graphql", json={"query": HEALTH})).status_code == 401


def test_a_key_lookup_is_trusted_for_its_seconds_then_asked_again(
    settings: Settings, engine: Engine
) -> None:
    now = [100.0]
    cache = KeyCache(engine=engine, seconds=2.0, clock=lambda: now[0])
    assert cache.any_made() is False
    key, row = keys.create(engine=engine, role="analyst", name="crm")
    assert (cache.any_made(), cache.find(key)) == (False, row)  # the store said so 0 s ago
    keys.revoke(engine=engine, key_id=row.id)
    now[0] = 101.9
    assert (cache.any_made(), cache.find(key)) == (False, row)
    now[0] = 102.0
    # Revoked: no live key, and keys stay needed (a key was made).
    assert (cache.any_made(), cache.find(key)) == (True, None)


async def test_revoking_every_key_does_not_open_a_development_store_again(
    settings: Settings, engine: Engine
) -> None:
    _, row = keys.create(engine=engine, role="admin", name="root")
    keys.revoke(engine=engine, key_id=row.id)
    async with client_for(create_app(settings)) as client:
        response = await client.post("/graphql", json={"query": HEALTH})
    assert (response.status_code, response.text) == (401, NEEDS_KEY)


async def test_a_revoked_admin_key_cannot_mint_a_replacement(
    settings: Settings, engine: Engine
) -> None:
    # Two workers over one store, each trusting a key lookup for the default 2 s.
    root, _ = keys.create(engine=engine, role="admin", name="root")
    ops, _ = keys.create(engine=engine, role="admin", name="ops")
    async with (
        client_for(create_app(settings)) as first,
        client_for(create_app(settings)) as second,
    ):
        as_root, as_ops = {"authorization": f"Bearer {root}"}, {"authorization": f"Bearer {ops}"}
        for worker in (first, second):  # both workers now trust root for 2 s
            response = await worker.post("/graphql", json={"query": HEALTH}, headers=as_root)
            assert response.status_code == 200
        revoke = {"query": REVOKE, "variables": {"id": "1"}}
        response = await second.post("/graphql", json=revoke, headers=as_ops)
        assert response.json()["data"]["revokeApiKey"]["apiKey"]["name"] == "root"
        # The worker that revoked it refuses it at once.
        response = await second.post("/graphql", json={"query": HEALTH}, headers=as_root)
        assert response.status_code == 401
        # The other still trusts it for reads, but not for a privileged mutation.
        mint = {"query": CREATE, "variables": {"r": "ADMIN"}}
        body = (await first.post("/graphql", json=mint, headers=as_root)).json()
        assert body["errors"][0]["message"] == "createApiKey: this key (root) was revoked"
    with engine.connect() as connection:
        events = keys.events(connection=connection)
    assert [(e.key_id, e.action, e.by) for e in events] == [
        (1, "created", "command line"),
        (2, "created", "command line"),
        (1, "revoked", "ops"),
    ]


async def test_production_needs_a_key_even_before_any_exists(store_url: str, shop_run: int) -> None:
    settings = Settings(database_url=store_url, id_key="k" * 32, environment="production")
    async with client_for(create_app(settings)) as client:
        assert (await client.post("/graphql", json={"query": HEALTH})).status_code == 401


async def test_graphiql_loads_without_a_key_but_get_queries_still_do_not_run(
    anonymous: httpx.AsyncClient,
) -> None:
    page = await anonymous.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    query = await anonymous.get("/graphql", params={"query": HEALTH})
    assert (query.status_code, query.text) == (400, "queries are not allowed when using GET")


KEYS = "{ apiKeys { id role name createdBy revokedAt } }"
CREATE = """
mutation ($r: ApiKeyRole!) {
  createApiKey(role: $r, name: "crm") { ... on CreateApiKeySuccess { key apiKey { id role } } }
}
"""
NAMED = """
mutation ($name: String!) {
  createApiKey(role: OPERATOR, name: $name) {
    __typename
    ... on CreateApiKeySuccess { key }
    ... on MutationError { message field }
  }
}
"""
REVOKE = """
mutation ($id: ID!) {
  revokeApiKey(id: $id) {
    __typename
    ... on RevokeApiKeySuccess { apiKey { id name revokedAt } }
    ... on MutationError { message field }
  }
}
"""


async def test_an_admin_manages_keys_over_the_api(settings: Settings, engine: Engine) -> None:
    uncached = replace(settings, key_cache_seconds=0)
    async with client_as(uncached, engine, role="admin", name="root") as admin:
        body = await graphql(admin, CREATE, r="ANALYST")
        created = body["data"]["createApiKey"]
        assert created["apiKey"] == {"id": "2", "role": "ANALYST"}
        assert created["key"].startswith("pk_")
        assert (await graphql(admin, CREATE, r="BOSS"))["errors"][0]["message"] == (
            "Variable '$r' has invalid value: Value 'BOSS' does not exist in 'ApiKeyRole' enum."
        )
        async with client_for(create_app(uncached), key=created["key"]) as crm:
            assert await graphql(crm, HEALTH) == {"data": {"health": {"status": "ok"}}}
            refused = await graphql(crm, KEYS)
            assert refused["errors"][0]["message"] == (
                "apiKeys needs the admin role; this key (crm) is analyst"
            )
            revoked = await graphql(admin, REVOKE, id="2")
            assert revoked["data"]["revokeApiKey"]["apiKey"]["name"] == "crm"
            assert (await crm.post("/graphql", json={"query": HEALTH})).status_code == 401
        listed = (await graphql(admin, KEYS))["data"]["apiKeys"]
        assert [
            (k["id"], k["role"], k["name"], k["createdBy"], k["revokedAt"] is None) for k in listed
        ] == [
            ("1", "ADMIN", "root", "command line", True),
            ("2", "ANALYST", "crm", "root", False),
        ]
        for key_id, shown in (("2", "2"), ("two", "'two'")):
            assert await graphql(admin, REVOKE, id=key_id) == {
                "data": {
                    "revokeApiKey": {
                        "__typename": "NotFoundError",
                        "message": f"there is no live key with id {shown}",
                        "field": "id",
                    }
                }
            }
        for name in ("", " ", "x" * 101):
            assert await graphql(admin, NAMED, name=name) == {
                "data": {
                    "createApiKey": {
                        "__typename": "InvalidInputError",
                        "message": "name must be 1 to 100 characters (who or what the key is for)",
                        "field": "name",
                    }
                }
            }
