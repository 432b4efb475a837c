"""Heavy work within budgets (api.costs): a key past its seconds gets 429 with Retry-After, and
cheap questions are answered while expensive ones wait."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from api.app import create_app
from api.costs import HeavyLane
from store import outcomes
from store.settings import Settings
from tests.api.client import client_for

pytestmark = pytest.mark.anyio
T = TypeVar("T")

# Heavy work: a segment's conversion is counted over the run's outcomes, off the event loop.
SEGMENTS = {"query": '{ segmentPerformance(key: "gender", days: 7) { days values { value } } }'}
SEGMENTS_ANSWER = {"data": {"segmentPerformance": {"days": 7, "values": []}}}
HEALTH = {"query": "{ health { status } }"}
BLOCKED_SECONDS = 30  # a bound so that a broken test cannot hang the suite, not a timing


def test_a_keys_credit_refills_at_its_rate_per_minute() -> None:
    now = [0.0]
    lane = HeavyLane(seconds_per_minute=6.0, clock=lambda: now[0])
    assert lane.retry_after(1) == 0
    lane.charge(1, 8.0)  # 6 s of credit, 2 s in debt; it comes back at 0.1 s a second
    assert (lane.retry_after(1), lane.retry_after(2)) == (20, 0)
    now[0] = 10.0
    assert lane.retry_after(1) == 10
    now[0] = 20.0
    assert lane.retry_after(1) == 0


async def test_a_key_past_its_heavy_work_gets_429_with_retry_after(
    store_url: str, shop_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = HeavyLane.run

    async def a_minute_each(self: HeavyLane, work: Callable[[], T]) -> tuple[T, float]:
        result, _ = await original(self, work)
        return result, 60.0  # as if it took a minute: the default budget is 30 s a minute

    monkeypatch.setattr(HeavyLane, "run", a_minute_each)
    _no_outcomes(monkeypatch)
    settings = Settings(database_url=store_url)
    async with client_for(create_app(settings)) as client:
        first = await client.post("/graphql", json=SEGMENTS)
        assert first.json() == SEGMENTS_ANSWER
        second = await client.post("/graphql", json=HEALTH)
    assert second.status_code == 429
    assert second.headers["retry-after"] == "60"  # 30 s in debt, back at 0.5 s a second
    assert second.text == (
        "this key used its heavy work for now (PORTRAIT_WORK_SECONDS_PER_MINUTE); retry after 60 s"
    )


async def test_cheap_questions_do_not_queue_behind_expensive_ones(
    store_url: str, shop_run: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()

    def held(**kwargs: Any) -> list[outcomes.SegmentConversion]:
        release.wait(BLOCKED_SECONDS)
        return []

    _no_outcomes(monkeypatch)
    monkeypatch.setattr(outcomes, "segment_conversion", held)
    settings = Settings(database_url=store_url)
    async with client_for(create_app(settings)) as client:
        # More expensive requests than the worker's in-flight slots (4), all held.
        expensive = [asyncio.create_task(client.post("/graphql", json=SEGMENTS)) for _ in range(6)]
        await asyncio.sleep(0)
        try:
            cheap = await asyncio.wait_for(
                client.post("/graphql", json=HEALTH), timeout=BLOCKED_SECONDS / 2
            )
            assert cheap.json() == {"data": {"health": {"status": "ok"}}}
            assert not any(task.done() for task in expensive)
        finally:
            release.set()
        answers = await asyncio.gather(*expensive)
    assert [a.json() for a in answers] == [SEGMENTS_ANSWER] * 6


def _no_outcomes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard shop's data ends at its as_of: count its segments as if it went on, with
    nobody converting."""
    monkeypatch.setattr(outcomes, "covered_days", lambda **_: 30)
    monkeypatch.setattr(outcomes, "segment_conversion", lambda **_: [])
