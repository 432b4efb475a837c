"""The audienceChanges subscription: a saved audience's changes from the log, then as the broker
publishes them; each member change for analysts and admins (audited), counts per minute for
operators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api import auth
from api.context import Context, Info
from api.counts import CountRange
from api.ids import id_number
from api.live.broker import Subscription
from api.live.types import (
    AudienceChangeUpdate,
    MembershipChange,
    MembershipChanges,
    MembershipCounts,
)
from store.audiences import saved as saved_audiences
from store.errors import InputError, NotFound
from store.live import log as live
from store.live.log import ChangeRow

PAGE = 1_000
MINUTE = timedelta(minutes=1)


async def audience_changes(
    info: Info, *, saved_audience_id: str, after: str | None, batched: bool = False
) -> AsyncGenerator[AudienceChangeUpdate, None]:
    """Changes of one saved audience from `after` on (from now on without it): members for
    analysts and admins (each one audited as a read), one by one or, `batched`, as they were
    published together; counts per minute for operators."""
    context = info.context
    auth.require(context.key, "operator", what="audienceChanges")
    start = _after(after)
    await run_in_threadpool(_check_saved, context.engine, saved_audience_id)
    async with context.live.broker.subscribe(saved_audience_id) as subscription:
        if start is None:  # subscribed first: nothing committed from here on is missed
            start = await run_in_threadpool(_last_change, context.engine)
        feed = _Feed(context.engine, saved_audience_id, subscription, last=start)
        if auth.reaches(context.key, "analyst"):
            async for batch in feed.batches():
                if context.key is not None:
                    await context.live.audit.audit(context.key, [c.person_id for c in batch])
                if batched:
                    yield MembershipChanges.from_rows(batch)
                else:
                    for change in batch:
                        yield MembershipChange.from_row(change)
        else:
            async for counts in _per_minute(feed, context):
                yield counts


def _after(after: str | None) -> int | None:
    if after is None:
        return None
    number = id_number(after)
    if number is None:
        raise InputError(f"after: {after!r} is not the id of a change")
    return number


def _check_saved(engine: Engine, name: str) -> None:
    with engine.connect() as connection:
        if saved_audiences.get(connection=connection, name=name) is None:
            raise NotFound(f"there is no saved audience named {name!r}")


def _last_change(engine: Engine) -> int:
    with engine.connect() as connection:
        return live.last_change_id(connection=connection)


@dataclass
class _Feed:
    """An audience's changes after `last`: those in the log first, then those published."""

    engine: Engine
    audience: str
    subscription: Subscription
    last: int

    async def batches(self) -> AsyncGenerator[list[ChangeRow], None]:
        while logged := await run_in_threadpool(self.logged):
            yield self.taken(logged)
        while True:
            yield await self.next()

    async def next(self, timeout: float | None = None) -> list[ChangeRow]:
        """The next published batch ([] when `timeout` passes first)."""
        while True:
            try:
                published = await asyncio.wait_for(self.subscription.next(), timeout)
            except TimeoutError:
                return []
            newer = [c for c in published if c.id > self.last]  # the log gave the rest
            if newer:
                return self.taken(newer)

    def logged(self) -> list[ChangeRow]:
        with self.engine.connect() as connection:
            return live.changes_after(
                connection=connection, after=self.last, limit=PAGE, audience=self.audience
            )

    def taken(self, changes: list[ChangeRow]) -> list[ChangeRow]:
        self.last = changes[-1].id
        return changes


@dataclass
class _Minutes:
    """Entered and left counts by the minute of each change's time."""

    counts: dict[datetime, list[int]] = field(default_factory=dict)  # entered, left, through

    def add(self, changes: Sequence[ChangeRow]) -> None:
        for change in changes:
            minute = change.at.astimezone(UTC).replace(second=0, microsecond=0)
            counted = self.counts.setdefault(minute, [0, 0, 0])
            counted[0 if change.change == live.ENTERED else 1] += 1
            counted[2] = max(counted[2], change.id)

    def closed(self, now: datetime) -> list[tuple[datetime, list[int]]]:
        """The minutes that are over (by the clock, or because a later one has begun)."""
        latest = max(self.counts, default=None)
        over = sorted(m for m in self.counts if m + MINUTE <= now or m != latest)
        return [(minute, self.counts.pop(minute)) for minute in over]

    def seconds_to_close(self, now: datetime) -> float | None:
        if not self.counts:
            return None
        return max((min(self.counts) + MINUTE - now).total_seconds(), 0.0)


async def _per_minute(feed: _Feed, context: Context) -> AsyncGenerator[MembershipCounts, None]:
    minutes = _Minutes()
    # The log's backlog, all of it: only then are its minutes known to be complete.
    while backlog := await run_in_threadpool(feed.logged):
        minutes.add(feed.taken(backlog))
    while True:
        for minute, (entered, left, through) in minutes.closed(datetime.now(UTC)):
            yield _counts(context, minute, entered, left, through)
        minutes.add(await feed.next(timeout=minutes.seconds_to_close(datetime.now(UTC))))


def _counts(
    context: Context, minute: datetime, entered: int, left: int, through: int
) -> MembershipCounts:
    exact = context.key is None or context.key.role != "operator"
    minimum = context.settings.min_audience

    def shown(count: int) -> tuple[int | None, CountRange]:
        if exact or count >= minimum:
            return count, CountRange(low=count, high=count)
        return None, CountRange(low=0, high=minimum - 1)

    (entered_n, entered_range), (left_n, left_range) = shown(entered), shown(left)
    return MembershipCounts(
        minute=minute,
        entered=entered_n,
        entered_range=entered_range,
        left=left_n,
        left_range=left_range,
        through=str(through),  # type: ignore[arg-type]
    )
