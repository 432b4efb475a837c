"""segmentPerformance and compareAudiences over HTTP: a shop tagged as of a past day, checked
against the orders that followed."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from store.settings import Settings
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_as, client_for, graphql
from tests.tagging.test_run import LIFECYCLE_ORDERS

pytestmark = pytest.mark.anyio

# After 2026-06-30: back orders 5 days later, steady 20, asleep 41 (the data ends there).
LATER = """b3,back,2026-07-05T10:00:00Z,10,app
c3,steady,2026-07-20T10:00:00Z,10,web
e3,asleep,2026-08-10T10:00:00Z,10,app
"""
SEGMENTS = """
query ($key: String!, $days: Int!) {
  segmentPerformance(key: $key, days: $days) {
    key days coveredDays values { value persons converted rate }
  }
}
"""
SEGMENTS_RANGES = """
query ($key: String!, $days: Int!) {
  segmentPerformance(key: $key, days: $days) {
    values { value persons personsRange { low high } converted convertedRange { low high } rate }
  }
}
"""
COMPARE = """
query ($a: TagExpression!, $b: TagExpression!) {
  compareAudiences(a: $a, b: $b, days: 30) {
    days a { persons converted rate } b { persons converted rate } both
    difference low high pValue verdict
  }
}
"""


@pytest.fixture
async def client(
    store_url: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text(LIFECYCLE_ORDERS.strip() + "\n" + LATER)
    options = RunOptions(shop, "test-id-key-0123456789", as_of=date(2026, 6, 30))
    run_tagging(engine=engine, options=options)
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        yield client


async def test_segment_performance_counts_who_ordered_in_the_window(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, SEGMENTS, key="lifecycle", days=30)
    one = {"persons": 1}
    assert body["data"]["segmentPerformance"] == {
        "key": "lifecycle",
        "days": 30,
        "coveredDays": 41,
        "values": [
            {"value": "active", **one, "converted": 1, "rate": 1.0},  # steady, 20 days on
            {"value": "churn_risk", **one, "converted": 0, "rate": 0.0},
            {"value": "dormant", **one, "converted": 0, "rate": 0.0},  # asleep: 41 days on
            {"value": "lost", **one, "converted": 0, "rate": 0.0},
            {"value": "new", **one, "converted": 0, "rate": 0.0},
            {"value": "reactivated", **one, "converted": 1, "rate": 1.0},  # back, 5 days on
        ],
    }


async def test_a_window_past_the_data_is_refused(client: httpx.AsyncClient) -> None:
    body = await graphql(client, SEGMENTS, key="lifecycle", days=60)
    assert body["errors"][0]["message"] == (
        "the data of run 1 covers 41 days after its as_of, not 60: tag as of an earlier day "
        "(portrait run --as-of) or ask for fewer days"
    )


async def test_compare_audiences_with_a_two_proportion_test(client: httpx.AsyncClient) -> None:
    body = await graphql(
        client,
        COMPARE,
        a="lifecycle IN (reactivated, active)",
        b="lifecycle IN (churn_risk, dormant, lost)",
    )
    # 2 of 2 against 0 of 3: pooled 0.4, z = 1 / sqrt(0.4 * 0.6 * (1/2 + 1/3))
    p_value = math.erfc(1 / math.sqrt(0.4 * 0.6 * (1 / 2 + 1 / 3)) / math.sqrt(2))
    assert body["data"]["compareAudiences"] == {
        "days": 30,
        "a": {"persons": 2, "converted": 2, "rate": 1.0},
        "b": {"persons": 3, "converted": 0, "rate": 0.0},
        "both": 0,
        "difference": 1.0,
        "low": 1.0,  # no variance in either: the interval closes
        "high": 1.0,
        "pValue": pytest.approx(p_value),
        "verdict": "a converts better: 100.0% against 0.0% ordered within 30 days (p = 0.0253)",
    }
    body = await graphql(
        client, COMPARE, a="lifecycle:active", b="lifecycle:active OR lifecycle:new"
    )
    verdict = body["data"]["compareAudiences"]["verdict"]
    assert verdict == (
        "no clear difference: 100.0% against 50.0% ordered within 30 days (p = 0.386); larger "
        "audiences or a longer window would tell; 1 persons are in both, which blurs the test"
    )


async def test_an_operator_gets_ranges_and_no_comparison_of_small_audiences(
    client: httpx.AsyncClient, store_url: str, engine: Engine
) -> None:
    settings = Settings(database_url=store_url, min_audience=2)
    async with client_as(settings, engine, role="operator") as operator:
        body = await graphql(operator, SEGMENTS_RANGES, key="lifecycle", days=30)
        # 6 persons, one a value: every count is under 2, so no value is even named.
        assert body["data"]["segmentPerformance"]["values"] == []
        body = await graphql(
            operator,
            COMPARE,
            a="lifecycle IN (reactivated, active)",
            b="lifecycle IN (churn_risk, dormant, lost)",
        )
        assert body["data"] is None
        assert body["errors"][0]["message"] == (
            "compareAudiences: b's converted, both under the minimum audience size (2) or too "
            "close to the whole run; this role sees counts that small only as ranges "
            "(audience { countRange })"
        )
