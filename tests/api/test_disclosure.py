"""Small counts reach an operator as ranges (PORTRAIT_MIN_AUDIENCE), over HTTP on the
four-person shop; analysts see the same counts exactly.

The shop: female Ann and Dee, male Bob, Cy without gender; lifecycle active (Ann, Dee),
churn_risk (Bob), new (Cy); outdoor among Ann's and Bob's categories. With a minimum of 2 out
of 4 persons, a count is shown only when it is 2 (at least 2 inside and 2 outside).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from api.counts import CountRange, Disclosure
from store import keys
from store.settings import Settings
from tests.api.client import client_as, client_for, graphql
from tests.api.test_personas import ANN, BOB, CY, KEYS, PERSONA_ROWS
from tests.factories import commit_run

pytestmark = pytest.mark.anyio

AUDIENCE = """
query ($e: TagExpression!) {
  audience(expression: $e) { count share countRange { low high exact } }
}
"""
BREAKDOWN = """
{ audience(expression: "NOT lifecycle:new") {
    breakdown(key: "gender") { value count share countRange { low high } } } }
"""
OVERLAP = """
{ overlap(a: "gender:female", b: "preferred_category:outdoor") {
    a b both either onlyA onlyB jaccard
    aRange { low high } bothRange { low high } eitherRange { low high }
    onlyARange { low high } onlyBRange { low high } } }
"""
DISTRIBUTION = """
{ tagDistribution(key: "gender") {
    ... on TagDistribution { persons values { value count share countRange { low high } }
                             otherCount otherCountRange { low high } } } }
"""


def exact(n: int) -> dict[str, int]:
    return {"low": n, "high": n}


@pytest.mark.parametrize(
    ("count", "shown", "low", "high"),
    [
        (0, None, 0, 49),
        (49, None, 0, 49),
        (50, 50, 50, 50),
        (950, 950, 950, 950),
        (951, None, 951, 1000),  # 49 outside: the complement would single them out
        (1000, None, 951, 1000),
    ],
)
def test_an_operator_sees_small_counts_and_small_complements_as_ranges(
    count: int, shown: int | None, low: int, high: int
) -> None:
    operator = Disclosure(exact=False, minimum=50, universe=1000)
    assert operator.count(count) == shown
    assert operator.range(count) == CountRange(low=low, high=high)
    assert operator.share(count, 1000) == (None if shown is None else count / 1000)
    analyst = Disclosure(exact=True, minimum=50, universe=1000)
    assert analyst.count(count) == count
    assert analyst.range(count) == CountRange(low=count, high=count)


def test_a_range_is_the_whole_class_of_hidden_counts_its_count_is_in() -> None:
    # 60 persons: up to 10 (few inside), 50 and more (few outside), 11-49 (both).
    operator = Disclosure(exact=False, minimum=50, universe=60)
    ranges = {n: operator.range(n) for n in (0, 10, 11, 49, 50, 60)}
    assert {n: (r.low, r.high) for n, r in ranges.items()} == {
        0: (0, 10),
        10: (0, 10),
        11: (11, 49),
        49: (11, 49),
        50: (50, 60),
        60: (50, 60),
    }


def test_a_share_of_a_hidden_total_is_hidden_too() -> None:
    operator = Disclosure(exact=False, minimum=50, universe=1000)
    assert operator.share(60, 120) == 0.5
    assert operator.share(60, 980) is None  # 980 of 1000 is hidden, 60 / 980 would give it


@pytest.fixture
def settings(store_url: str, shop_run: int) -> Settings:
    return Settings(database_url=store_url, min_audience=2)


@pytest.fixture
async def operator(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(settings, engine, role="operator") as client:
        yield client


@pytest.fixture
async def analyst(settings: Settings, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with client_as(settings, engine, role="analyst") as client:
        yield client


async def audience(client: httpx.AsyncClient, expression: str) -> dict[str, Any]:
    body = await graphql(client, AUDIENCE, e=expression)
    return body["data"]["audience"]  # type: ignore[no-any-return]


async def test_an_operators_audience_counts(operator: httpx.AsyncClient) -> None:
    assert await audience(operator, "gender:female") == {
        "count": 2,
        "share": 0.5,
        "countRange": {"low": 2, "high": 2, "exact": True},
    }
    assert await audience(operator, "lifecycle:new") == {
        "count": None,
        "share": None,
        "countRange": {"low": 0, "high": 1, "exact": False},
    }
    # Everyone but Cy: the one person outside would be the difference from the run's size.
    assert await audience(operator, "NOT lifecycle:new") == {
        "count": None,
        "share": None,
        "countRange": {"low": 3, "high": 4, "exact": False},
    }


async def test_an_analyst_sees_the_same_counts_exactly(analyst: httpx.AsyncClient) -> None:
    assert await audience(analyst, "lifecycle:new") == {
        "count": 1,
        "share": 0.25,
        "countRange": {"low": 1, "high": 1, "exact": True},
    }
    body = await graphql(analyst, OVERLAP)
    assert body["data"]["overlap"]["both"] == 1
    assert body["data"]["overlap"]["jaccard"] == 1 / 3


# Each in a test of its own: the same persons asked again in other words (female within
# everyone but Cy is female) would be refused by the operator's ledger
# (tests/api/test_tracker_attacks.py).
async def test_an_operators_breakdown(operator: httpx.AsyncClient) -> None:
    body = await graphql(operator, BREAKDOWN)
    # Female 2 of an audience of 3: the count is shown, its share of the hidden 3 is not;
    # male (Bob alone) is not named, since its count is hidden.
    assert body["data"]["audience"]["breakdown"] == [
        {"value": "female", "count": 2, "share": None, "countRange": exact(2)},
    ]


async def test_an_operators_overlap(operator: httpx.AsyncClient) -> None:
    body = await graphql(operator, OVERLAP)
    assert body["data"]["overlap"] == {
        "a": 2,
        "b": 2,
        "both": None,
        "either": None,
        "onlyA": None,
        "onlyB": None,
        "jaccard": None,
        "aRange": exact(2),
        "bothRange": {"low": 0, "high": 1},
        "eitherRange": {"low": 3, "high": 4},
        "onlyARange": {"low": 0, "high": 1},
        "onlyBRange": {"low": 0, "high": 1},
    }


async def test_an_operators_distribution(operator: httpx.AsyncClient) -> None:
    body = await graphql(operator, DISTRIBUTION)
    # Male (Bob) and unknown (nobody) have hidden counts: they are not named either.
    assert body["data"]["tagDistribution"] == {
        "persons": 4,
        "values": [{"value": "female", "count": 2, "share": 0.5, "countRange": exact(2)}],
        "otherCount": None,
        "otherCountRange": {"low": 0, "high": 1},
    }


PERSONAS = "{ personas { name description size sizeRange { low high } share topTags { share } } }"


async def test_an_operator_sees_small_personas_as_ranges_without_counts_in_words(
    store_url: str, engine: Engine
) -> None:
    # Three persons; personas of 2 and 1 buyers. With a minimum of 1, an operator sees both
    # exactly; with a minimum of 2, neither (2 of 3 leaves 1 outside).
    commit_run(engine, [ANN, BOB, CY], definitions=KEYS, personas=PERSONA_ROWS)
    key, _ = keys.create(engine=engine, role="operator", name="ops")
    sizes = {}
    for minimum in (1, 2):
        settings = Settings(database_url=store_url, min_audience=minimum)
        async with client_for(create_app(settings), key=key) as client:
            sizes[minimum] = (await graphql(client, PERSONAS))["data"]["personas"]
    assert sizes[1][0] == {
        "name": "evening_baby",
        "description": "2 buyers (66.7%); most distinguishing: ...",
        "size": 2,
        "sizeRange": exact(2),
        "share": 2 / 3,
        # Every member has the tag: the same two persons asked in other words, which the
        # operator's ledger does not answer (a refusal only when they differ would tell).
        "topTags": [{"share": None}],
    }
    assert sizes[2] == [
        {
            "name": "evening_baby",
            "description": "most distinguishing: preferred_category baby (1.5x)",
            "size": None,
            "sizeRange": {"low": 2, "high": 3},
            "share": None,
            "topTags": [{"share": None}],
        },
        {
            "name": "night_owls",
            "description": "",
            "size": None,
            "sizeRange": {"low": 0, "high": 1},
            "share": None,
            "topTags": [],
        },
    ]
