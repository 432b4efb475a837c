"""The tag catalog and tag distributions over the standard hand-made shop."""

from __future__ import annotations

import httpx
import pytest

from tests.api.client import graphql

pytestmark = pytest.mark.anyio


CATALOG = """
query ($kind: TagKind) { tags(kind: $kind) { key kind description source valueType values } }
"""
DISTRIBUTION = """
query ($key: String!, $top: Int) {
  tagDistribution(key: $key, top: $top) {
    __typename
    ... on TagDistribution {
      key kind persons distinctValues values { value count share } otherCount
    }
    ... on UnknownTagKey { key message closest }
  }
}
"""


def entry(
    key: str,
    kind: str,
    values: list[str],
    *,
    value_type: str = "CATEGORY",
    source: str = "built_in",
) -> dict[str, object]:
    return {
        "key": key,
        "kind": kind,
        "description": f"the {key.replace('_', ' ')} of a person",
        "source": source,
        "valueType": value_type,
        "values": values,
    }


async def test_the_catalog_lists_every_key_of_the_current_run(client: httpx.AsyncClient) -> None:
    body = await graphql(client, CATALOG)

    assert body == {
        "data": {
            "tags": [
                entry("age_band", "DEMOGRAPHIC", ["18_24", "25_34", "35_44", "45_54", "55_plus"]),
                entry(
                    "bargain_hunter", "PSYCHOGRAPHIC", ["yes"], value_type="FLAG", source="catalog"
                ),
                entry("churn_risk", "PREDICTIVE", ["low", "medium", "high"], value_type="SCORE"),
                entry("gender", "DEMOGRAPHIC", ["female", "male", "unknown"]),
                entry(
                    "lifecycle",
                    "BEHAVIOURAL",
                    ["new", "active", "dormant", "churn_risk", "lost", "reactivated"],
                ),
                entry(
                    "preferred_category", "BEHAVIOURAL", ["baby", "outdoor", "beauty", "digital"]
                ),
                entry(
                    "rfm_segment", "BEHAVIOURAL", ["high_value", "loyal", "at_risk", "hibernating"]
                ),
            ]
        }
    }


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("BEHAVIOURAL", ["lifecycle", "preferred_category", "rfm_segment"]),
        ("DEMOGRAPHIC", ["age_band", "gender"]),
        ("CUSTOM", []),
    ],
)
async def test_the_catalog_can_be_narrowed_to_one_kind(
    client: httpx.AsyncClient, kind: str, keys: list[str]
) -> None:
    body = await graphql(client, CATALOG, kind=kind)

    assert [tag["key"] for tag in body["data"]["tags"]] == keys


async def test_distribution_counts_persons_per_value_with_unseen_values_last(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, DISTRIBUTION, key="lifecycle")

    assert body == {
        "data": {
            "tagDistribution": {
                "__typename": "TagDistribution",
                "key": "lifecycle",
                "kind": "BEHAVIOURAL",
                "persons": 4,
                "distinctValues": 3,
                "values": [
                    {"value": "active", "count": 2, "share": 0.5},
                    {"value": "churn_risk", "count": 1, "share": 0.25},
                    {"value": "new", "count": 1, "share": 0.25},
                    {"value": "dormant", "count": 0, "share": 0.0},
                    {"value": "lost", "count": 0, "share": 0.0},
                    {"value": "reactivated", "count": 0, "share": 0.0},
                ],
                "otherCount": 0,
            }
        }
    }


async def test_distribution_of_a_multi_valued_key_counts_each_persons_values(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, DISTRIBUTION, key="preferred_category")

    assert body["data"]["tagDistribution"]["values"] == [
        {"value": "baby", "count": 2, "share": 0.5},
        {"value": "outdoor", "count": 2, "share": 0.5},
        {"value": "beauty", "count": 1, "share": 0.25},
        {"value": "digital", "count": 1, "share": 0.25},
    ]


async def test_distribution_lists_the_top_values_and_counts_the_rest(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, DISTRIBUTION, key="preferred_category", top=1)

    distribution = body["data"]["tagDistribution"]
    assert distribution["values"] == [{"value": "baby", "count": 2, "share": 0.5}]
    assert (distribution["distinctValues"], distribution["otherCount"]) == (4, 4)


async def test_distribution_omits_unseen_values_once_the_top_is_full(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, DISTRIBUTION, key="lifecycle", top=4)

    assert [v["value"] for v in body["data"]["tagDistribution"]["values"]] == [
        "active",
        "churn_risk",
        "new",
        "dormant",
    ]


@pytest.mark.parametrize("top", [0, 101])
async def test_distribution_top_must_be_between_1_and_100(
    client: httpx.AsyncClient, top: int
) -> None:
    body = await graphql(client, DISTRIBUTION, key="lifecycle", top=top)

    assert [e["message"] for e in body["errors"]] == [f"top must be between 1 and 100, got {top}"]


@pytest.mark.parametrize(
    ("key", "closest", "message"),
    [
        (
            "lifecyle",
            ["lifecycle"],
            "tag key 'lifecyle' is not in the catalog of run {run}; did you mean lifecycle?",
        ),
        (
            "prefered_category",
            ["preferred_category"],
            "tag key 'prefered_category' is not in the catalog of run {run}; "
            "did you mean preferred_category?",
        ),
        ("shoe_size", [], "tag key 'shoe_size' is not in the catalog of run {run}"),
    ],
)
async def test_an_unknown_key_is_answered_in_the_schema_with_the_closest_keys(
    client: httpx.AsyncClient, shop_run: int, key: str, closest: list[str], message: str
) -> None:
    body = await graphql(client, DISTRIBUTION, key=key)

    assert body == {
        "data": {
            "tagDistribution": {
                "__typename": "UnknownTagKey",
                "key": key,
                "message": message.format(run=shop_run),
                "closest": closest,
            }
        }
    }


async def test_an_empty_store_has_no_catalog_and_says_why_it_has_no_distribution(
    empty_client: httpx.AsyncClient,
) -> None:
    assert await graphql(empty_client, CATALOG) == {"data": {"tags": []}}
    body = await graphql(empty_client, DISTRIBUTION, key="lifecycle")

    assert body["data"]["tagDistribution"] == {
        "__typename": "UnknownTagKey",
        "key": "lifecycle",
        "message": "the store has no committed run yet; run `portrait run --source DIR` first",
        "closest": [],
    }
