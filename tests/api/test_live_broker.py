"""The change broker: each audience's subscribers get its changes, in order; one that falls
too far behind is ended with a message saying how to resume."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.live.broker import ChangeBroker, FellBehind
from store.live.log import ChangeRow

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
