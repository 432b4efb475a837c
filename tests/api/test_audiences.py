"""audience, overlap and saved audiences over HTTP, on the bitmap index and on SQL alike.

The standard shop (tests/factories.py), by person_idx: 0 Ann (female, active, baby 0.5,
outdoor 0.3, beauty 0.2, churn_risk low 0.12), 1 Bob (male, churn_risk lifecycle, outdoor 0.7,
digital 0.3), 2 Cy (new, nothing else), 3 Dee (female, active, baby 1.0).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from store.settings import Settings
from tests.api.client import client_for, graphql
from tests.factories import ANN, DEE, PersonSpec, commit_run

pytestmark = pytest.mark.anyio

AUDIENCE = """
query ($e: TagExpression!) {
  audience(expression: $e) { expression evaluator count share run { id } }
}
"""
MEMBERS = """
query ($e: TagExpression!, $first: Int!, $after: String) {
  audience(expression: $e) {
    members(first: $first, after: $after) {
      totalCount
      edges { cursor node { personId lifecycle } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""
BREAKDOWN = """
query ($e: TagExpression!, $key: String!) {
  audience(expression: $e) { count breakdown(key: $key) { value count share } }
}
"""
OVERLAP = """
query ($a: TagExpression!, $b: TagExpression!) {
  overlap(a: $a, b: $b) { a b both either onlyA onlyB jaccard evaluator }
}
"""
LITERAL_AUDIENCE = 'query { audience(expression: "gender:female AND (") { count } }'
SAVE = """
mutation ($name: String!, $e: TagExpression!) {
  saveAudience(name: $name, expression: $e) {
    __typename
    ... on SaveAudienceSuccess {
      savedAudience {
        name expression version savedBy createdBy
        history { version expression savedBy }
        sizes { persons version run { id } }
      }
    }
    ... on MutationError { message field }
  }
}
"""
SAVED = """
query ($name: String!) {
  savedAudience(name: $name) {
    name version expression
    audience { count evaluator }
    sizes { persons version run { id } }
  }
}
"""
ALL_SAVED = "query { audiences { name version } }"
DELETE = """
mutation ($name: String!) {
  deleteAudience(name: $name) {
    __typename
    ... on DeleteAudienceSuccess { name }
    ... on MutationError { message field }
  }
}
"""
NO_WOMEN = {
    "__typename": "NotFoundError",
    "message": "there is no saved audience named 'women'",
    "field": "name",
}


def _message(body: dict[str, Any]) -> str:
    message: str = body["errors"][0]["message"]
    return message


async def test_count_share_and_evaluator(client: httpx.AsyncClient, shop_run: int) -> None:
    expression = "preferred_category:baby AND NOT lifecycle:churn_risk"
    body = await graphql(client, AUDIENCE, e=expression)
    assert body == {
        "data": {
            "audience": {
                "expression": expression,
                "evaluator": "BITMAP",
                "count": 2,
                "share": 0.5,
                "run": {"id": str(shop_run)},
            }
        }
    }


@pytest.mark.parametrize(
    ("expression", "count"),
    [
        ("preferred_category >= 0.5", 3),  # Ann 0.5, Bob 0.7, Dee 1.0
        ("preferred_category > 0.5", 2),
        ("churn_risk < 0.2", 1),
        ("churn_risk", 1),
        ("NOT rfm_segment", 1),  # Cy
        ("gender IN (female, male) OR lifecycle:new", 4),
        ("bargain_hunter:yes OR NOT (age_band:25_34 AND gender:female)", 3),
        ("lifecycle:active and not preferred_category:baby", 0),
    ],
)
async def test_counts_follow_the_expression(
    client: httpx.AsyncClient, expression: str, count: int
) -> None:
    body = await graphql(client, AUDIENCE, e=expression)
    assert body["data"]["audience"]["count"] == count


async def test_members_page_through_the_audience_in_person_order(
    client: httpx.AsyncClient, shop_run: int
) -> None:
    expression = "gender:female OR lifecycle:churn_risk"  # Ann, Bob, Dee
    first = await graphql(client, MEMBERS, e=expression, first=2)
    page = first["data"]["audience"]["members"]
    cursors = [base64.urlsafe_b64encode(f"member:{shop_run}:{i}".encode()).decode() for i in (0, 1)]
    assert page == {
        "totalCount": 3,
        "edges": [
            {"cursor": cursors[0], "node": {"personId": "p-ann", "lifecycle": "active"}},
            {"cursor": cursors[1], "node": {"personId": "p-bob", "lifecycle": "churn_risk"}},
        ],
        "pageInfo": {
            "hasNextPage": True,
            "hasPreviousPage": False,
            "startCursor": cursors[0],
            "endCursor": cursors[1],
        },
    }
    second = await graphql(client, MEMBERS, e=expression, first=2, after=cursors[1])
    page = second["data"]["audience"]["members"]
    assert [edge["node"]["personId"] for edge in page["edges"]] == ["p-dee"]
    assert page["pageInfo"]["hasNextPage"] is False
    assert page["pageInfo"]["hasPreviousPage"] is True


async def test_members_refuse_big_pages_and_foreign_cursors(
    client: httpx.AsyncClient, shop_run: int
) -> None:
    body = await graphql(client, MEMBERS, e="gender", first=101)
    assert _message(body) == "first must be between 0 and 100, got 101"
    body = await graphql(client, MEMBERS, e="gender", first=1, after="not-a-cursor")
    assert _message(body) == "after: 'not-a-cursor' is not a cursor of an audience page"
    stale = base64.urlsafe_b64encode(f"member:{shop_run + 5}:0".encode()).decode()
    body = await graphql(client, MEMBERS, e="gender", first=1, after=stale)
    assert _message(body) == (
        f"after: the cursor belongs to run {shop_run + 5}, and run {shop_run} is served now; "
        "start again without `after`"
    )


async def test_breakdown_counts_another_key_inside_the_audience(client: httpx.AsyncClient):
    body = await graphql(client, BREAKDOWN, e="gender:female", key="preferred_category")
    assert body == {
        "data": {
            "audience": {
                "count": 2,
                "breakdown": [
                    {"value": "baby", "count": 2, "share": 1.0},
                    {"value": "beauty", "count": 1, "share": 0.5},
                    {"value": "outdoor", "count": 1, "share": 0.5},
                ],
            }
        }
    }


async def test_breakdown_by_an_unknown_key_names_the_closest(
    client: httpx.AsyncClient, shop_run: int
) -> None:
    body = await graphql(client, BREAKDOWN, e="gender:female", key="gendr")
    assert body["data"] is None
    assert _message(body) == (
        f"tag key 'gendr' is not in the catalog of run {shop_run}; did you mean gender, age_band?"
    )


async def test_overlap_of_two_audiences(client: httpx.AsyncClient) -> None:
    body = await graphql(client, OVERLAP, a="gender:female", b="preferred_category:outdoor")
    assert body == {
        "data": {
            "overlap": {
                "a": 2,
                "b": 2,
                "both": 1,
                "either": 3,
                "onlyA": 1,
                "onlyB": 1,
                "jaccard": 1 / 3,
                "evaluator": "BITMAP",
            }
        }
    }


async def test_a_malformed_expression_is_a_validation_error_with_the_position(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, AUDIENCE, e="gender:female AND (")
    assert body["data"] is None
    assert _message(body) == (
        "Variable '$e' has invalid value: Expected value of type 'TagExpression', but "
        "encountered error 'the expression ends too early; expected '(' or NOT or a tag key "
        "(at position 19)\n"
        "gender:female AND (\n"
        "                   ^'; found: 'gender:female AND ('."
    )
    response = await client.post("/graphql", json={"query": LITERAL_AUDIENCE})
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == (
        "Expected value of type 'TagExpression', but encountered error 'the expression ends "
        "too early; expected '(' or NOT or a tag key (at position 19)\n"
        "gender:female AND (\n"
        '                   ^\'; found: "gender:female AND (".'
    )


async def test_unknown_keys_and_values_name_the_closest(client: httpx.AsyncClient) -> None:
    body = await graphql(client, AUDIENCE, e="lifecycle:active AND rfm_segmnt:loyal")
    assert body["data"] is None
    assert _message(body).split("\n")[0] == (
        "unknown tag key 'rfm_segmnt'; did you mean rfm_segment? (at position 21)"
    )
    body = await graphql(client, AUDIENCE, e="lifecycle:activ")
    assert _message(body).split("\n")[0] == (
        "unknown value 'activ' of tag key 'lifecycle'; did you mean active, reactivated? "
        "(at position 0)"
    )


async def test_an_empty_store_says_so(store_url: str, engine: Engine) -> None:
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        body = await graphql(client, AUDIENCE, e="gender:female")
    assert _message(body) == (
        "the store has no committed run yet; run `portrait run --source DIR` first"
    )


async def test_save_edit_and_read_a_saved_audience(
    client: httpx.AsyncClient, shop_run: int
) -> None:
    saved = await graphql(client, SAVE, name="young mums", e="gender:female")
    assert saved == {
        "data": {
            "saveAudience": {
                "__typename": "SaveAudienceSuccess",
                "savedAudience": {
                    "name": "young mums",
                    "expression": "gender:female",
                    "version": 1,
                    "savedBy": "anonymous",
                    "createdBy": "anonymous",
                    "history": [
                        {"version": 1, "expression": "gender:female", "savedBy": "anonymous"}
                    ],
                    "sizes": [{"persons": 2, "version": 1, "run": {"id": str(shop_run)}}],
                },
            }
        }
    }
    edited = await graphql(
        client, SAVE, name="young mums", e="gender:female AND preferred_category:baby"
    )
    assert edited["data"]["saveAudience"]["savedAudience"]["version"] == 2
    assert edited["data"]["saveAudience"]["savedAudience"]["history"] == [
        {
            "version": 2,
            "expression": "gender:female AND preferred_category:baby",
            "savedBy": "anonymous",
        },
        {"version": 1, "expression": "gender:female", "savedBy": "anonymous"},
    ]
    # The size on this run was recorded for version 1 and stays as it was.
    assert edited["data"]["saveAudience"]["savedAudience"]["sizes"] == [
        {"persons": 2, "version": 1, "run": {"id": str(shop_run)}}
    ]
    await graphql(client, SAVE, name="bargains", e="bargain_hunter:yes")
    assert await graphql(client, ALL_SAVED) == {
        "data": {
            "audiences": [
                {"name": "bargains", "version": 1},
                {"name": "young mums", "version": 2},
            ]
        }
    }


async def test_a_saved_audience_records_its_size_on_each_run(
    client: httpx.AsyncClient, engine: Engine, shop_run: int
) -> None:
    await graphql(client, SAVE, name="women", e="gender:female")
    next_run = commit_run(
        engine, [ANN, DEE, PersonSpec("p-eve", tags=[("gender", "female", None)])]
    )
    body = await graphql(client, SAVED, name="women")
    assert body["data"]["savedAudience"]["audience"] == {
        "count": 3,
        "evaluator": "BITMAP",
    }
    # Sibling fields resolve concurrently: the size recorded by `audience` shows from the
    # next read on.
    body = await graphql(client, SAVED, name="women")
    assert body["data"]["savedAudience"]["sizes"] == [
        {"persons": 2, "version": 1, "run": {"id": str(shop_run)}},
        {"persons": 3, "version": 1, "run": {"id": str(next_run)}},
    ]


async def test_saving_refuses_typos_and_bad_names(client: httpx.AsyncClient) -> None:
    body = await graphql(client, SAVE, name="vip", e="gendr:female")
    refused = body["data"]["saveAudience"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInputError", "expression")
    assert refused["message"].split("\n")[0] == (
        "unknown tag key 'gendr'; did you mean gender, age_band? (at position 0)"
    )
    body = await graphql(client, SAVE, name="  ", e="gender:female")
    assert body == {
        "data": {
            "saveAudience": {
                "__typename": "InvalidInputError",
                "message": "audience name '  ' must be 1-100 letters, digits, spaces, '_', '.' "
                "or '-', starting with a letter, digit or '_'",
                "field": "name",
            }
        }
    }
    assert await graphql(client, ALL_SAVED) == {"data": {"audiences": []}}


async def test_saving_on_an_empty_store_says_there_is_no_run(
    store_url: str, engine: Engine
) -> None:
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        body = await graphql(client, SAVE, name="women", e="gender:female")
    assert body == {
        "data": {
            "saveAudience": {
                "__typename": "NotFoundError",
                "message": "the store has no committed run yet; run `portrait run --source DIR` "
                "first",
                "field": None,
            }
        }
    }


async def test_delete_a_saved_audience(client: httpx.AsyncClient) -> None:
    await graphql(client, SAVE, name="women", e="gender:female")
    assert await graphql(client, DELETE, name="women") == {
        "data": {"deleteAudience": {"__typename": "DeleteAudienceSuccess", "name": "women"}}
    }
    assert await graphql(client, DELETE, name="women") == {"data": {"deleteAudience": NO_WOMEN}}
    assert await graphql(client, SAVED, name="women") == {"data": {"savedAudience": None}}


async def test_a_new_run_is_counted_without_a_restart(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    assert (await graphql(client, AUDIENCE, e="gender:female"))["data"]["audience"]["count"] == 2
    new_run = commit_run(engine, [DEE])
    body = await graphql(client, AUDIENCE, e="gender:female")
    assert body["data"]["audience"]["count"] == 1
    assert body["data"]["audience"]["run"] == {"id": str(new_run)}


async def test_audience_names_with_a_nul_byte_are_unknown(client: httpx.AsyncClient) -> None:
    assert await graphql(client, SAVED, name="women\x00") == {"data": {"savedAudience": None}}
    assert await graphql(client, DELETE, name="women\x00") == {
        "data": {
            "deleteAudience": {
                "__typename": "NotFoundError",
                "message": "there is no saved audience named 'women\\x00'",
                "field": "name",
            }
        }
    }
