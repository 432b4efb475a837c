"""The live path's parts for the app's lifespan: ingest, the event budget, the change broker,
the webhook sender and the feed that links them (`api.live.feed`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.live.audits import SubscriptionAudit
from api.live.broker import ChangeBroker
from api.live.feed import Incremental, LiveFeed, Sweep
from api.live.ingest import EventBudget, Ingest
from api.live.webhooks import WebhookSender
from store.settings import Settings


@dataclass(frozen=True)
class Live:
    ingest: Ingest
    budget: EventBudget
    broker: ChangeBroker
    audit: SubscriptionAudit  # what subscriptions send, audited for all subscribers together
    sender: WebhookSender
    feed: LiveFeed
    # The persons with live tags on a run, as the process's live tags know them (None: not
    # known, ask the store); without live tags in the process, nobody.
    live_persons: LivePersons


LivePersons = Callable[[int], AbstractSet[int] | None]


def _nobody(_run_id: int) -> AbstractSet[int]:
    return frozenset()


@asynccontextmanager
async def running(
    *,
    engine: Engine,
    settings: Settings,
    incremental: Incremental | None,
    sweep: Sweep | None = None,
    live_persons: LivePersons | None = None,
) -> AsyncIterator[Live]:
    """The live path's parts, with the feed and the webhook sender running in the background."""
    broker = ChangeBroker()
    sender = WebhookSender(engine=engine, first_retry_seconds=settings.webhook_retry_seconds)
    feed = LiveFeed(
        engine=engine, broker=broker, sender=sender, incremental=incremental, sweep=sweep
    )
    ingest = await run_in_threadpool(
        lambda: Ingest(engine=engine, id_key=settings.id_key, on_stored=feed.stored)
    )
    budget = EventBudget(per_minute=settings.ingest_events_per_minute)
    audit = SubscriptionAudit(engine)
    tasks = [asyncio.create_task(feed.run()), asyncio.create_task(sender.run())]
    try:
        yield Live(
            ingest=ingest,
            budget=budget,
            broker=broker,
            audit=audit,
            sender=sender,
            feed=feed,
            live_persons=live_persons or _nobody,
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        await audit.close()
        ingest.close()
