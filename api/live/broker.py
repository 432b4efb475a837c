"""The in-process broker between the change log and its subscribers.

`LiveFeed` publishes each change once, in the log's order, after it is committed; each
subscriber has a bounded queue of batches. A subscriber that falls `MAX_QUEUED` batches behind
is ended (its stream says so) instead of holding memory without bound: it subscribes again
with `after` set to the last change it saw, and the log gives it the rest.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from store.errors import PortraitError
from store.live.log import ChangeRow

MAX_QUEUED = 1_000


class FellBehind(PortraitError):
    """A subscriber's queue filled up: it resubscribes from the last change it saw."""


class Subscription:
    def __init__(self, audience: str, max_queued: int) -> None:
        self.audience = audience
        self._max_queued = max_queued
        self._queue: asyncio.Queue[Sequence[ChangeRow]] = asyncio.Queue(max_queued)
        self._overflowed = False

    def offer(self, changes: Sequence[ChangeRow]) -> None:
        try:
            self._queue.put_nowait(changes)
        except asyncio.QueueFull:
            self._overflowed = True

    async def next(self) -> Sequence[ChangeRow]:
        """The next batch of this audience's changes (waits for one)."""
        if self._overflowed and self._queue.empty():
            raise FellBehind(
                f"the subscription to {self.audience!r} fell {self._max_queued} batches behind; "
                "subscribe again with `after` set to the id of the last change received"
            )
        return await self._queue.get()


class ChangeBroker:
    def __init__(self, *, max_queued: int = MAX_QUEUED) -> None:
        self._max_queued = max_queued
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, audience: str) -> AsyncIterator[Subscription]:
        """Changes of `audience` published while the context is open."""
        subscription = Subscription(audience, self._max_queued)
        self._subscribers[audience].add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers[audience].discard(subscription)
            if not self._subscribers[audience]:
                del self._subscribers[audience]

    def publish(self, changes: Sequence[ChangeRow]) -> None:
        """Hand committed changes to the subscribers of their audiences (never waits)."""
        by_audience: dict[str, list[ChangeRow]] = defaultdict(list)
        for change in changes:
            if change.audience in self._subscribers:
                by_audience[change.audience].append(change)
        for audience, batch in by_audience.items():
            for subscription in self._subscribers[audience]:
                subscription.offer(batch)

    def subscribers(self, audience: str) -> int:
        return len(self._subscribers.get(audience, ()))
