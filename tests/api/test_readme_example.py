"""The README's GraphQL examples run as printed, against the hand-made shop; its mutations
are valid against the schema."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import httpx
import pytest
from graphql import parse, validate
from sqlalchemy.engine import Engine

from api.schema import schema
from store.audiences import saved as saved_audiences
from tests.api.client import graphql
from tests.factories import commit_shop

pytestmark = pytest.mark.anyio

README = (Path(__file__).parents[2] / "README.md").read_text()


def _examples() -> list[str]:
    found = re.findall(r"```graphql\n(.*?)```", README, flags=re.DOTALL)
    assert len(found) == 6, (
        "README should hold profile, audience, diff, basket, persona and attribution examples"
    )
    # the example names a user of the demo shop; ask for one of the hand-made shop's instead
    return [re.sub(r"#[^\n]*", "", example).replace("U1000760", "u-1002") for example in found]


def _example() -> str:
    return _examples()[0]


async def test_readme_example_answers_without_errors(client: httpx.AsyncClient) -> None:
    body = await graphql(client, _example())
    assert "errors" not in body
    profile = body["data"]["profile"]
    assert profile["personId"] == "p-bob"
    assert profile["rfm"]["segment"] == "at_risk"
    assert profile["tag"] == ["outdoor", "digital"]
    values = body["data"]["tagDistribution"]["values"]
    assert sum(v["count"] for v in values) == 4


async def test_readme_audience_example_answers_as_documented(client: httpx.AsyncClient) -> None:
    body = await graphql(client, _examples()[1], e="lifecycle:active")
    assert body == {
        "data": {
            "audience": {
                "count": 2,
                "share": 0.5,
                "breakdown": [{"value": "25_34", "count": 2, "share": 1.0}],
                "members": {
                    "totalCount": 2,
                    "edges": [
                        {
                            "cursor": _cursor(0),
                            "node": {"personId": "p-ann", "lifecycle": "active"},
                        },
                        {
                            "cursor": _cursor(3),
                            "node": {"personId": "p-dee", "lifecycle": "active"},
                        },
                    ],
                    "pageInfo": {"hasNextPage": False, "endCursor": _cursor(3)},
                },
            },
            "overlap": {"a": 2, "b": 2, "both": 2, "either": 2, "jaccard": 1.0},
        }
    }


async def test_readme_diff_example_answers_as_documented(
    client: httpx.AsyncClient, engine: Engine, shop_run: int
) -> None:
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="vip", expression="rfm_segment:high_value", by="crm"
        )
    later = commit_shop(engine)  # the same shop again: the saved audience is measured on it
    example = _examples()[2].replace('"3"', f'"{shop_run}"').replace('"5"', f'"{later}"')
    body = await graphql(client, example)
    sizes = body["data"]["savedAudience"]["sizes"]
    assert [(s["run"]["id"], s["persons"], s["entered"], s["left"]) for s in sizes] == [
        (str(later), 1, 0, 0)
    ]
    assert body["data"]["audienceDiff"] == {
        "entered": 0,
        "left": 0,
        "stayed": 1,
        "leftMembers": {"edges": []},
    }


def _cursor(person_idx: int) -> str:
    return base64.urlsafe_b64encode(f"member:1:{person_idx}".encode()).decode()


async def test_readme_basket_example_answers_as_documented(
    basket_client: httpx.AsyncClient,
) -> None:
    example = _examples()[3].replace("u-1002", "u3").replace('"I123"', '"A"')
    body = await graphql(basket_client, example)
    assert "errors" not in body, body
    data = body["data"]
    assert data["associations"] == []  # baby and toys: lift 4/3, under the example's 2
    # everyone is new: the audience has every basket, so the run's own four item rules
    assert [
        (r["antecedents"][0]["id"], r["consequents"][0]["id"], r["lift"]) for r in data["segment"]
    ] == [("C", "B", 4 / 3), ("B", "C", 4 / 3), ("B", "A", 1.2), ("A", "B", 1.2)]
    assert data["profile"]["recommendations"] == [
        {
            "item": {"id": "C", "name": "Rattle"},
            "category": "toys",
            "score": 0.125,
            "because": {"antecedents": [{"name": "Diapers"}], "confidence": 0.5, "lift": 4 / 3},
        }
    ]


def _mutations() -> list[str]:
    """The README's mutations: inline (`mutation { ... }`, maybe over lines) and indented."""
    inline = re.findall(r"`(mutation \{.*?)`", README, flags=re.DOTALL)
    indented = re.findall(r"\n    (mutation \{\n.*?\n    \})\n", README, flags=re.DOTALL)
    return [*inline, *indented]


def test_readme_mutations_are_valid_against_the_schema() -> None:
    mutations = _mutations()
    fields = [re.match(r"mutation \{\s*(\w+)", mutation) for mutation in mutations]
    assert sorted(found.group(1) for found in fields if found) == [
        "createApiKey",
        "deleteAudience",
        "forgetPerson",
        "startRun",
    ]
    errors = {
        mutation: [error.message for error in validate(schema._schema, parse(mutation))]
        for mutation in mutations
    }
    assert errors == {mutation: [] for mutation in mutations}
