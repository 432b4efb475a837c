"""The change broker: each audience's subscribers get its changes, in order; one that falls
too far behind is ended with a message saying how to resume. The feed that publishes to it:
what a step hands over, or the log read back; stopped, it holds no store connection."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from api.live.broker import ChangeBroker, FellBehind
from api.live.feed import LiveFeed
from api.live.webhooks import WebhookSender
from store.db import make_engine
from store.live import log as live
from store.live.log import ChangeRow, NewChange

pytestmark = pytest.mark.anyio
AT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def _change(number: int, audience: str) -> ChangeRow:
    return ChangeRow(number, audience, f"p-{number}", "entered", AT, "lifecycle")


async def test_subscribers_get_their_audiences_changes_only() -> None:
    broker = ChangeBroker()
    async with broker.subscribe("women") as women, broker.subscribe("vip") as vip:
        broker.publish([_change(1, "women"), _change(2, "vip"), _change(3, "women")])
        assert await women.next() == [_change(1, "women"), _change(3, "women")]
        assert await vip.next() == [_change(2, "vip")]
    assert broker.subscribers("women") == 0


async def test_a_subscriber_too_far_behind_is_told_to_resume() -> None:
    broker = ChangeBroker(max_queued=2)
    async with broker.subscribe("women") as women:
        for number in range(1, 4):
            broker.publish([_change(number, "women")])
        assert [await women.next(), await women.next()] == [
            [_change(1, "women")],
            [_change(2, "women")],
        ]
        with pytest.raises(FellBehind) as behind:
            await women.next()
    assert str(behind.value) == (
        "the subscription to 'women' fell 2 batches behind; subscribe again with `after` set to "
        "the id of the last change received"
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite store: the feed's choice between what is handed over and the log does not
    depend on the dialect (`append_changes` on both is `tests/store/test_live.py`'s)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")
    yield engine
    engine.dispose()


async def test_the_feed_publishes_what_a_step_hands_over_and_reads_the_log_past_a_gap(
    engine: Engine,
) -> None:
    # The changes a step of this process appended are published as handed over (`why` marks
    # them apart here); when another process appended in between, the log is read instead.
    def append(*changes: NewChange) -> list[ChangeRow]:
        with engine.begin() as connection:
            return live.append_changes(connection=connection, changes=changes)

    broker = ChangeBroker()
    sender = WebhookSender(engine=engine, first_retry_seconds=1)
    feed = LiveFeed(engine=engine, broker=broker, sender=sender, incremental=None)
    running = [asyncio.create_task(feed.run()), asyncio.create_task(sender.run())]
    try:
        async with broker.subscribe("women") as women:
            ours = append(*(NewChange("women", p, "entered", AT, "stored") for p in ("a", "b")))
            feed.appended([c._replace(why="handed") for c in ours])
            first = await asyncio.wait_for(women.next(), 5)
            append(NewChange("women", "c", "entered", AT, "stored"))  # another process's
            [ours_again] = append(NewChange("women", "d", "left", AT, "stored"))
            feed.appended([ours_again._replace(why="handed")])
            second = await asyncio.wait_for(women.next(), 5)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    assert [(c.id, c.person_id, c.why) for c in first] == [(1, "a", "handed"), (2, "b", "handed")]
    assert [(c.id, c.person_id, c.why) for c in second] == [(3, "c", "stored"), (4, "d", "stored")]


async def test_a_stopped_feed_has_given_back_the_connection_its_log_read_held(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stopped while it reads the log on a worker thread: it ends once the read has, so the app
    # disposes its engine with no connection out (given back later, to the disposed engine's
    # pool, one stayed open until a garbage collection: a ResourceWarning at a later test).
    reading, read_on = threading.Event(), threading.Event()

    def slow_read(**_: object) -> list[ChangeRow]:
        reading.set()
        read_on.wait(5)
        return []

    monkeypatch.setattr(live, "changes_after", slow_read)
    sender = WebhookSender(engine=engine, first_retry_seconds=1)
    feed = LiveFeed(engine=engine, broker=ChangeBroker(), sender=sender, incremental=None)
    running = asyncio.create_task(feed.run())
    feed.appended()
    assert await asyncio.to_thread(reading.wait, 5)
    running.cancel()
    asyncio.get_running_loop().call_later(0.5, read_on.set)
    with suppress(asyncio.CancelledError):
        await running

    assert (read_on.is_set(), engine.pool.checkedout()) == (True, 0)
