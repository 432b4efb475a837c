"""The HTTP surface: /healthz, bad requests, masking, GraphiQL, and runs committed while serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from strawberry.schema.schema import validate_document

import api.execution
from api.app import create_app
from store import keys
from store.profiles import reads as profile_reads
from store.settings import Settings
from tests.api.client import client_for, graphql
from tests.factories import ANN, SHOP, PersonSpec, commit_run

pytestmark = pytest.mark.anyio

HEALTH = "{ health { runId } }"
LIFECYCLE = 'query { profile(personId: "p-ann") { lifecycle } }'
UNKNOWN_FIELD = 'query { profile(personId: "p-ann") { nickname } }'
WRONG_ARGUMENT_TYPE = 'query { runs(last: "ten") { id } }'
PROFILE_TAGS = 'query { profile(personId: "p-ann") { personId tags { key } } }'
NAMED_PROFILE = "query Card($user: String!) { profile(userId: $user) { personId tags { key } } }"
ONE_MIB = 1024 * 1024


async def assert_still_serving(client: httpx.AsyncClient) -> None:
    assert await graphql(client, LIFECYCLE) == {"data": {"profile": {"lifecycle": "active"}}}


async def test_healthz_names_the_current_run(client: httpx.AsyncClient, shop_run: int) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "run_id": shop_run}


async def test_healthz_of_an_empty_store_has_no_run(empty_client: httpx.AsyncClient) -> None:
    response = await empty_client.get("/healthz")

    assert response.json() == {"status": "ok", "run_id": None}


async def test_malformed_json_is_a_400_and_the_server_keeps_serving(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", content=b'{"query": "{ health {', headers={"content-type": "application/json"}
    )

    assert (response.status_code, response.text) == (400, "Unable to parse request body as JSON")
    await assert_still_serving(client)


@pytest.mark.parametrize("body", [b"42", b'"{ health { runId } }"', b"null"])
async def test_json_that_is_not_an_object_is_a_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )

    assert (response.status_code, response.text) == (400, "The request body must be a JSON object")
    await assert_still_serving(client)


async def test_a_request_without_a_query_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"variables": {}})

    assert (response.status_code, response.text) == (400, "No GraphQL query found in the request")


async def test_an_unknown_field_is_a_readable_validation_error(client: httpx.AsyncClient) -> None:
    body = await graphql(client, UNKNOWN_FIELD)

    assert body == {
        "data": None,
        "errors": [
            {
                "message": "Cannot query field 'nickname' on type 'Profile'.",
                "locations": [{"line": 1, "column": 38}],
            }
        ],
    }
    await assert_still_serving(client)


async def test_a_query_text_is_validated_once(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    validated: list[str] = []

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        validated.append(document.loc.source.body)
        return validate_document(schema, document, rules)

    monkeypatch.setattr(api.execution, "validate_document", counting)
    first = await graphql(client, UNKNOWN_FIELD)
    again = await graphql(client, UNKNOWN_FIELD)
    valid = await graphql(client, LIFECYCLE)
    await graphql(client, LIFECYCLE)

    assert first == again
    assert first["errors"][0]["message"] == "Cannot query field 'nickname' on type 'Profile'."
    assert valid == {"data": {"profile": {"lifecycle": "active"}}}
    assert validated == [UNKNOWN_FIELD, LIFECYCLE]


async def test_a_wrong_argument_type_is_a_readable_validation_error(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, WRONG_ARGUMENT_TYPE)

    assert [e["message"] for e in body["errors"]] == [
        'Int cannot represent non-integer value: "ten"'
    ]
    await assert_still_serving(client)


async def test_a_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    padding = "#" * ONE_MIB  # a GraphQL comment: the document itself would be valid
    response = await client.post("/graphql", json={"query": HEALTH + padding})

    assert response.status_code == 413
    assert response.text == "request body is larger than the limit of 65536 bytes"
    await assert_still_serving(client)


async def test_a_chunked_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ health { runId } }'
        for _ in range(16):
            yield b"#" * (ONE_MIB // 16)
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 413
    await assert_still_serving(client)


async def test_unexpected_errors_are_masked_and_logged_without_the_query(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**_: object) -> list[profile_reads.PersonTagRow]:
        raise RuntimeError("disk /var/lib/secret is on fire")

    monkeypatch.setattr(profile_reads, "tags_of", broken)
    with caplog.at_level(logging.ERROR):
        response = await client.post("/graphql", json={"query": PROFILE_TAGS})
        named = {"query": NAMED_PROFILE, "variables": {"user": "u-1002"}}
        await client.post("/graphql", json=named)

    # A profile's tags are read with the person, so the failure is the profile's.
    assert response.json() == {
        "data": {"profile": None},
        "errors": [
            {
                "message": "Unexpected error.",
                "locations": [{"line": 1, "column": 9}],
                "path": ["profile"],
            }
        ],
    }
    assert "secret" not in response.text
    assert [record.getMessage() for record in caplog.records] == [
        "unexpected error at profile (operation anonymous)",
        "unexpected error at profile (operation Card)",
    ]
    assert "disk /var/lib/secret is on fire" in caplog.text  # the traceback says why
    # Neither the query's person id nor the variable's user id.
    assert ("p-ann" in caplog.text, "u-1002" in caplog.text) == (False, False)


async def test_a_run_committed_while_serving_is_served_by_the_next_request(
    client: httpx.AsyncClient, engine: Engine, shop_run: int
) -> None:
    assert await graphql(client, HEALTH) == {"data": {"health": {"runId": str(shop_run)}}}
    dormant_ann = PersonSpec(
        person_id=ANN.person_id,
        identifiers=ANN.identifiers,
        tags=[("lifecycle", "dormant", None)],
    )
    new_run = commit_run(engine, [dormant_ann, *SHOP[1:]])

    assert await graphql(client, HEALTH) == {"data": {"health": {"runId": str(new_run)}}}
    assert await graphql(client, LIFECYCLE) == {"data": {"profile": {"lifecycle": "dormant"}}}
    assert (await client.get("/healthz")).json() == {"status": "ok", "run_id": new_run}


async def test_graphiql_is_served_to_browsers_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_graphiql_is_not_served_in_production(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    settings = Settings(database_url=store_url, id_key="k" * 32, environment="production")
    key, _ = keys.create(engine=engine, role="operator", name="ops")
    async with client_for(create_app(settings), key=key) as client:
        response = await client.get("/graphql", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert await graphql(client, HEALTH) == {"data": {"health": {"runId": str(shop_run)}}}


async def test_queries_by_get_and_batches_are_refused(client: httpx.AsyncClient) -> None:
    by_get = await client.get("/graphql", params={"query": HEALTH})
    assert (by_get.status_code, by_get.text) == (400, "queries are not allowed when using GET")
    batch = await client.post("/graphql", json=[{"query": HEALTH}, {"query": HEALTH}])
    assert (batch.status_code, batch.text) == (400, "Batching is not enabled")


INTROSPECTION = "{ __schema { queryType { name } } }"
MISTYPED = '{ profil(personId: "p-ann") { personId } }'


async def test_production_hides_introspection_and_field_suggestions(
    store_url: str, engine: Engine, client: httpx.AsyncClient
) -> None:
    development = await graphql(client, INTROSPECTION)
    assert development == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    hinted = await graphql(client, MISTYPED)
    assert hinted["errors"][0]["message"] == (
        "Cannot query field 'profil' on type 'Query'. Did you mean 'profile' or 'profiles'?"
    )
    settings = Settings(database_url=store_url, id_key="k" * 32, environment="production")
    key, _ = keys.create(engine=engine, role="analyst", name="tools")
    async with client_for(create_app(settings), key=key) as production:
        body = await graphql(production, INTROSPECTION)
        assert [e["message"] for e in body["errors"]] == [
            "GraphQL introspection has been disabled, but the requested query contained the "
            "field '__schema'.",
            "GraphQL introspection has been disabled, but the requested query contained the "
            "field 'queryType'.",
        ]
        body = await graphql(production, MISTYPED)
        assert body["errors"][0]["message"] == "Cannot query field 'profil' on type 'Query'."


DEEPEST = (  # 9 levels: as deep as the schema goes
    '{ savedAudience(name: "x") { audience { members { edges { node { recommendations '
    "{ because { antecedents { id } } } } } } } } }"
)


async def test_aliases_tokens_and_depth_are_bounded(client: httpx.AsyncClient) -> None:
    aliases = "{ " + " ".join(f"a{i}: health {{ status }}" for i in range(16)) + " }"
    assert _messages(await graphql(client, aliases)) == ["16 aliases found. Allowed: 15"]
    tokens = "{ currentRun { " + "id " * 2_000 + "} }"
    assert _messages(await graphql(client, tokens)) == [
        "Syntax Error: Document contains more than 2000 tokens. Parsing aborted."
    ]
    # The schema has no cycles, so no valid query is deeper than this one; the depth limit
    # (10) stands guard for the day a type links back to another.
    assert await graphql(client, DEEPEST) == {"data": {"savedAudience": None}}


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]
