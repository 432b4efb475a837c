"""The attacks of issue 20 (H2), replayed as an operator over HTTP: each one fails, and the same
questions asked by an analyst get exact answers.

The shop: 40 padding persons and one target, T, the only person who is female, from the west,
35-44 and a gold member (four attributes an attacker may know). T alone likes gardening,
spent 5519.0, and orders again 9 days after as_of. The padding audience P is the 20 men; 10
of them (the even ones) order again 3 days after as_of. The minimum audience size is 5.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store.settings import Settings
from store.snapshot.write import begin_run, commit_snapshot
from tests.api.client import client_as, graphql
from tests.factories import AS_OF, PersonSpec, definition, snapshot

pytestmark = pytest.mark.anyio

T = "gender:female AND region:west AND age_band:35_44 AND member_level:gold"
P = "gender:male"
REGIONS = ["north", "south", "east", "west"]
AGE_BANDS = ["18_24", "25_34", "35_44", "45_54"]
CATEGORIES = ["baby", "outdoor", "beauty"]
TARGET_IDX = 40

COUNT = "query ($e: TagExpression!) { audience(expression: $e) { count } }"
OVERLAP = """
query ($a: TagExpression!, $b: TagExpression!) {
  overlap(a: $a, b: $b) { a b both either onlyA onlyB jaccard }
}
"""
BREAKDOWN = """
query ($e: TagExpression!, $key: String!) {
  audience(expression: $e) { breakdown(key: $key) { value count } }
}
"""
DISTRIBUTION = """
query ($key: String!) {
  tagDistribution(key: $key) { ... on TagDistribution { values { value count } } }
}
"""
SEGMENTS = """
query ($key: String!) {
  segmentPerformance(key: $key, days: 30) { values { value persons converted } }
}
"""
COMPARE = """
query ($a: TagExpression!, $b: TagExpression!, $days: Int!) {
  compareAudiences(a: $a, b: $b, days: $days) { a { persons converted } b { persons converted } }
}
"""
DEFINITIONS = [
    definition("gender", "demographic", ["female", "male"]),
    definition("region", "demographic", REGIONS),
    definition("age_band", "demographic", AGE_BANDS),
    definition("member_level", "demographic", ["silver", "gold"]),
    definition("preferred_category", "behavioural", [*CATEGORIES, "garden"]),
    definition("monetary", "behavioural", [], value_type="number"),
]


def padding(i: int) -> PersonSpec:
    gender = "male" if i < 20 else "female"
    region, age_band = REGIONS[i % 4], AGE_BANDS[(i // 4) % 4]
    level = "gold" if (i // 2) % 2 else "silver"
    if (gender, region, age_band, level) == ("female", "west", "35_44", "gold"):
        level = "silver"  # T alone has all four
    monetary = 100.0 + 37 * i
    return PersonSpec(
        person_id=f"p-{i}",
        tags=[
            ("gender", gender, None),
            ("region", region, None),
            ("age_band", age_band, None),
            ("member_level", level, None),
            ("preferred_category", CATEGORIES[i % 3], 0.5),
            ("monetary", str(monetary), monetary),
        ],
    )


TARGET = PersonSpec(
    person_id="p-target",
    tags=[
        ("gender", "female", None),
        ("region", "west", None),
        ("age_band", "35_44", None),
        ("member_level", "gold", None),
        ("preferred_category", "garden", 0.6),
        ("preferred_category", "baby", 0.4),
        ("monetary", "5519.0", 5519.0),
    ],
)


@pytest.fixture
def shop(engine: Engine) -> int:
    persons = [padding(i) for i in range(40)] + [TARGET]
    days = [(i, 3) for i in range(0, 20, 2)] + [(TARGET_IDX, 9)]
    written = replace(
        snapshot(persons, definitions=DEFINITIONS, quality={}, timings={}),
        outcomes=pd.DataFrame(days, columns=["person_idx", "next_order_days"]),
        reports={"outcomes": {"covered_days": 41}},
        as_of=AS_OF,
    )
    run_id = begin_run(engine=engine, source="tests/tracker", as_of=AS_OF, params={})
    commit_snapshot(engine=engine, run_id=run_id, snapshot=written)
    return run_id


@pytest.fixture
def settings(store_url: str, shop: int) -> Settings:
    return Settings(database_url=store_url, min_audience=5)


@pytest.fixture
async def operator(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(settings, engine, role="operator") as client:
        yield client


@pytest.fixture
async def analyst(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(settings, engine, role="analyst") as client:
        yield client


async def count(client: httpx.AsyncClient, expression: str) -> tuple[int | None, str | None]:
    body = await graphql(client, COUNT, e=expression)
    errors = body.get("errors")
    audience = body["data"]["audience"]
    return audience["count"], errors[0]["message"] if errors else None


def refused(minimum: int = 5) -> str:
    return (
        "this answer and an earlier one of this key differ by fewer than "
        f"{minimum} persons (the minimum audience size), so together they would single "
        "persons out; this role gets it only as a range"
    )


async def test_overlap_gives_no_fields_a_hidden_count_follows_from(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    # either - onlyB was T's hidden count.
    body = await graphql(operator, OVERLAP, a=T, b=P)
    assert body["data"]["overlap"] == {
        "a": None,
        "b": 20,
        "both": None,
        "either": None,
        "onlyA": None,
        "onlyB": None,
        "jaccard": None,
    }
    body = await graphql(analyst, OVERLAP, a=T, b=P)
    assert body["data"]["overlap"] == {
        "a": 1,
        "b": 20,
        "both": 0,
        "either": 21,
        "onlyA": 1,
        "onlyB": 20,
        "jaccard": 0.0,
    }


async def test_a_padded_count_differing_by_one_person_is_refused(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    assert await count(operator, P) == (20, None)
    assert await count(operator, f"{P} OR ({T})") == (None, refused())
    assert await count(operator, P) == (20, None)  # asked again: the same answer
    assert await count(analyst, P) == (20, None)
    assert await count(analyst, f"{P} OR ({T})") == (21, None)


async def test_bisecting_a_number_gets_the_same_refusal_whether_or_not_the_target_matches(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    # 14 aliases in one request, as in the attack: P, then P OR (T AND monetary <= x).
    limits = [1000 * k for k in range(1, 14)]
    aliases = " ".join(
        f'm{x}: audience(expression: "{P} OR ({T} AND monetary <= {x})") {{ count }}'
        for x in limits
    )
    query = f'{{ p: audience(expression: "{P}") {{ count }} {aliases} }}'
    body = await graphql(operator, query)
    assert body["data"] == {"p": {"count": 20}, **{f"m{x}": {"count": None} for x in limits}}
    assert {error["message"] for error in body["errors"]} == {refused()}
    assert len(body["errors"]) == len(limits)
    body = await graphql(analyst, query)
    exact = {f"m{x}": {"count": 21 if x >= 5519 else 20} for x in limits}
    assert body == {"data": {"p": {"count": 20}, **exact}}


async def test_a_breakdown_names_no_value_whose_count_is_hidden(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    body = await graphql(operator, BREAKDOWN, e=T, key="preferred_category")
    assert body["data"]["audience"]["breakdown"] == []
    body = await graphql(operator, BREAKDOWN, e=f"{P} OR ({T})", key="preferred_category")
    # Garden (T alone) is not named. Baby's 8 (P's 7 and T) is: it is this key's first
    # answer near those persons, and P's 7 asked afterwards would be refused (as above).
    assert body["data"]["audience"]["breakdown"] == [
        {"value": "baby", "count": 8},
        {"value": "outdoor", "count": 7},
        {"value": "beauty", "count": 6},
    ]
    body = await graphql(operator, BREAKDOWN, e=P, key="preferred_category")
    assert body["data"]["audience"]["breakdown"] == []  # each within 1 of the answers above
    body = await graphql(analyst, BREAKDOWN, e=T, key="preferred_category")
    assert body["data"]["audience"]["breakdown"] == [
        {"value": "baby", "count": 1},
        {"value": "garden", "count": 1},
    ]


async def test_number_keys_reach_an_operator_only_in_bands(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    body = await graphql(operator, DISTRIBUTION, key="monetary")
    # Amounts 100 + 37 i (i < 40) and T's 5519: 100-200 holds 3, 200-500 8, 500-1000 14,
    # 1000-2000 15, 5000-10000 T alone. The bands under 5 are not named; nor is 200-500, since
    # the 41 persons less the three named bands would leave 4, an exact small remainder.
    assert body["data"]["tagDistribution"]["values"] == [
        {"value": "500-1000", "count": 14},
        {"value": "1000-2000", "count": 15},
    ]
    body = await graphql(operator, BREAKDOWN, e=T, key="monetary")
    assert body["data"]["audience"]["breakdown"] == []
    body = await graphql(operator, SEGMENTS, key="monetary")
    assert [v["value"] for v in body["data"]["segmentPerformance"]["values"]] == [
        "500-1000",
        "1000-2000",
    ]
    # Analysts see every band, exactly: the store keeps no bitmap per amount.
    analysts = await graphql(analyst, DISTRIBUTION, key="monetary")
    assert analysts["data"]["tagDistribution"]["values"] == [
        {"value": "100-200", "count": 3},
        {"value": "200-500", "count": 8},
        {"value": "500-1000", "count": 14},
        {"value": "1000-2000", "count": 15},
        {"value": "5000-10000", "count": 1},
    ]
    # A breakdown by a number key is in bands for every role.
    body = await graphql(analyst, BREAKDOWN, e=T, key="monetary")
    assert body["data"]["audience"]["breakdown"] == [{"value": "5000-10000", "count": 1}]


@pytest.mark.parametrize("days", [5, 9, 30])
async def test_compare_audiences_does_not_tell_the_targets_next_order_day(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient, days: int
) -> None:
    body = await graphql(operator, COMPARE, a=f"{P} OR ({T})", b=P, days=days)
    assert body["data"] is None
    assert body["errors"][0]["message"] == refused()
    body = await graphql(analyst, COMPARE, a=f"{P} OR ({T})", b=P, days=days)
    target_converted = 1 if days >= 9 else 0
    assert body["data"]["compareAudiences"] == {
        "a": {"persons": 21, "converted": 10 + target_converted},
        "b": {"persons": 20, "converted": 10},
    }


SAVE = """
mutation ($name: String!, $e: TagExpression!) {
  saveAudience(name: $name, expression: $e) {
    ... on SaveAudienceSuccess { savedAudience { sizes { persons } } }
  }
}
"""


async def test_a_saved_audiences_sizes_are_answers_like_any_other(
    operator: httpx.AsyncClient, analyst: httpx.AsyncClient
) -> None:
    assert await count(operator, P) == (20, None)
    body = await graphql(operator, SAVE, name="padded", e=f"{P} OR ({T})")
    assert body["data"]["saveAudience"] == {"savedAudience": {"sizes": [{"persons": None}]}}
    body = await graphql(analyst, SAVE, name="padded_too", e=f"{P} OR ({T})")
    assert body["data"]["saveAudience"] == {"savedAudience": {"sizes": [{"persons": 21}]}}
