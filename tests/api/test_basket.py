"""associations, Profile.recommendations and Run.basket over HTTP, on the hand-counted basket
shop (tests/factories.py: BASKETS) tagged into the store by a real run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from store.settings import Settings
from tests.api.client import client_as, graphql

pytestmark = pytest.mark.anyio

ENTRY = "{ id name category }"
RULE = f"rank level antecedents {ENTRY} consequents {ENTRY} support confidence lift conviction"
ASSOCIATIONS = f"""
query ($items: [ID!], $level: BasketLevel!, $minLift: Float, $first: Int!) {{
  associations(items: $items, level: $level, minLift: $minLift, first: $first) {{ {RULE} }}
}}
"""
RECOMMENDATIONS = """
query ($user: String!) {
  profile(userId: $user) {
    recommendations {
      item { id name category } category score
      because { rank antecedents { id } consequents { id } confidence }
    }
  }
}
"""
BASKET_REPORT = """
{ currentRun { basket { levels { level baskets multiItemBaskets frequentItems itemsets rules
                                 requestedMinSupport minSupport maxItemsets maxLen }
                        note } } }
"""
A = {"id": "A", "name": "Formula", "category": "baby"}
B = {"id": "B", "name": "Diapers", "category": "baby"}
C = {"id": "C", "name": "Rattle", "category": "toys"}


def _rule(
    rank: int, antecedent: dict[str, Any], consequent: dict[str, Any], **metrics: Any
) -> dict[str, Any]:
    return {
        "rank": rank,
        "level": "ITEM",
        "antecedents": [antecedent],
        "consequents": [consequent],
        **metrics,
    }


async def test_associations_name_their_items_strongest_first(
    basket_client: httpx.AsyncClient,
) -> None:
    body = await graphql(basket_client, ASSOCIATIONS, level="ITEM", first=2)
    assert body == {
        "data": {
            "associations": [
                _rule(
                    1,
                    C,
                    B,
                    support=0.25,
                    confidence=pytest.approx(2 / 3),
                    lift=pytest.approx(4 / 3),
                    conviction=pytest.approx(1.5),
                ),
                _rule(
                    2,
                    B,
                    C,
                    support=0.25,
                    confidence=0.5,
                    lift=pytest.approx(4 / 3),
                    conviction=pytest.approx(1.25),
                ),
            ]
        }
    }


@pytest.mark.parametrize(
    ("items", "min_lift", "ranks"),
    [
        (None, None, [1, 2, 3, 4]),
        (None, 1.3, [1, 2]),
        (["A"], None, [4]),  # A -> B fires for a basket holding A
        (["A", "B"], None, [2]),  # B -> C; the others' consequents are in the basket
        (["A", "B", "C"], None, []),
    ],
)
async def test_associations_fire_for_a_basket(
    basket_client: httpx.AsyncClient,
    items: list[str] | None,
    min_lift: float | None,
    ranks: list[int],
) -> None:
    body = await graphql(
        basket_client, ASSOCIATIONS, items=items, level="ITEM", minLift=min_lift, first=20
    )
    assert [rule["rank"] for rule in body["data"]["associations"]] == ranks


async def test_category_rules_name_categories(basket_client: httpx.AsyncClient) -> None:
    body = await graphql(basket_client, ASSOCIATIONS, level="CATEGORY", first=20)
    toys = {"id": "toys", "name": "toys", "category": "toys"}
    baby = {"id": "baby", "name": "baby", "category": "baby"}
    assert [
        (r["antecedents"], r["consequents"], r["confidence"], r["conviction"])
        for r in body["data"]["associations"]
    ] == [([toys], [baby], 1.0, None), ([baby], [toys], 0.5, 1.25)]


async def test_associations_refuse_more_than_100(basket_client: httpx.AsyncClient) -> None:
    body = await graphql(basket_client, ASSOCIATIONS, level="ITEM", first=101)
    assert body["errors"][0]["message"] == "first must be between 0 and 100, got 101"


async def test_recommendations_carry_item_score_and_rule(basket_client: httpx.AsyncClient) -> None:
    body = await graphql(basket_client, RECOMMENDATIONS, user="u3")
    assert body == {
        "data": {
            "profile": {
                "recommendations": [
                    {
                        "item": C,
                        "category": "toys",
                        "score": pytest.approx(0.125),
                        "because": {
                            "rank": 2,
                            "antecedents": [{"id": "B"}],
                            "consequents": [{"id": "C"}],
                            "confidence": 0.5,
                        },
                    }
                ]
            }
        }
    }
    assert await graphql(basket_client, RECOMMENDATIONS, user="u1") == {
        "data": {"profile": {"recommendations": []}}
    }


async def test_the_run_reports_what_mining_saw(basket_client: httpx.AsyncClient) -> None:
    body = await graphql(basket_client, BASKET_REPORT)
    assert body == {
        "data": {
            "currentRun": {
                "basket": {
                    "levels": [
                        {
                            "level": "ITEM",
                            "baskets": 8,
                            "multiItemBaskets": 5,
                            "frequentItems": 4,
                            "itemsets": 3,
                            "rules": 4,
                            "requestedMinSupport": 0.25,
                            "minSupport": 0.25,
                            "maxItemsets": 1000,
                            "maxLen": 3,
                        },
                        {
                            "level": "CATEGORY",
                            "baskets": 8,
                            "multiItemBaskets": 4,
                            "frequentItems": 3,
                            "itemsets": 1,
                            "rules": 2,
                            "requestedMinSupport": 0.25,
                            "minSupport": 0.25,
                            "maxItemsets": 1000,
                            "maxLen": 3,
                        },
                    ],
                    "note": None,
                }
            }
        }
    }


SEGMENT = """
query ($audience: TagExpression!, $level: BasketLevel!) {
  associations(audience: $audience, level: $level, first: 20) {
    antecedents { id } consequents { id } lift
  }
}
"""


async def test_rules_inside_an_audience_are_mined_from_its_baskets(
    basket_client: httpx.AsyncClient,
) -> None:
    # frequency >= 2: u1, u2, u4, with baskets ABC AB AC BC D E A. A 4, B 3, C 3 of 7 (D, E
    # once: under 0.25); AB, AC, BC 2 each. B -> C: (2/3) / (3/7) = 14/9, and both ways;
    # every rule with A has lift 7/6. In all baskets, B -> C had 4/3 only.
    body = await graphql(basket_client, SEGMENT, audience="frequency >= 2", level="ITEM")
    found = [
        (rule["antecedents"][0]["id"], rule["consequents"][0]["id"], rule["lift"])
        for rule in body["data"]["associations"]
    ]
    assert found[:2] == [("B", "C", pytest.approx(14 / 9)), ("C", "B", pytest.approx(14 / 9))]
    assert sorted(found[2:]) == [
        ("A", "B", pytest.approx(7 / 6)),
        ("A", "C", pytest.approx(7 / 6)),
        ("B", "A", pytest.approx(7 / 6)),
        ("C", "A", pytest.approx(7 / 6)),
    ]
    again = await graphql(basket_client, SEGMENT, audience="frequency>=2", level="ITEM")
    assert again == body  # served from the run's cache: the same rules, in the same order


async def test_an_audience_without_shared_baskets_has_no_rules(
    basket_client: httpx.AsyncClient,
) -> None:
    body = await graphql(basket_client, SEGMENT, audience="frequency = 1", level="ITEM")  # u3 only
    assert body == {"data": {"associations": []}}
    body = await graphql(basket_client, SEGMENT, audience="frequncy = 1", level="ITEM")
    assert body["errors"][0]["message"].startswith(
        "unknown tag key 'frequncy'; did you mean frequency, recency_days?"
    )


async def test_an_operator_may_not_mine_a_small_audience(
    basket_client: httpx.AsyncClient, store_url: str, engine: Engine
) -> None:
    settings = Settings(database_url=store_url, min_audience=2)
    async with client_as(settings, engine, role="operator") as operator:
        # u3 alone is under the minimum of 2; frequency >= 2 (u1, u2, u4) leaves only u3 out.
        for audience in ("frequency = 1", "frequency >= 2"):
            body = await graphql(operator, SEGMENT, audience=audience, level="ITEM")
            assert body["errors"][0]["message"] == (
                "associations: the audience is under the minimum audience size (2) or too "
                "close to the whole run; this role may not mine rules from it"
            )
        # u3 and u4 (2 in, 2 out): mined. Baskets ABD, D, E, A: A 2/4, B 1/4, D 2/4; AB, AD,
        # BD, ABD 1/4 each. A-D has lift 1 (under 1.1); every other rule lift 2, or 4 when
        # B (1/4) turns into A and D together.
        body = await graphql(operator, SEGMENT, audience="NOT frequency = 2", level="ITEM")
        found = {
            (
                "".join(e["id"] for e in rule["antecedents"]),
                "".join(e["id"] for e in rule["consequents"]),
                rule["lift"],
            )
            for rule in body["data"]["associations"]
        }
        assert found == {
            ("A", "B", 2.0),
            ("B", "A", 2.0),
            ("B", "D", 2.0),
            ("D", "B", 2.0),
            ("AB", "D", 2.0),
            ("AD", "B", 4.0),
            ("BD", "A", 2.0),
            ("A", "BD", 2.0),
            ("B", "AD", 4.0),
            ("D", "AB", 2.0),
        }
