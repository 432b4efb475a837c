"""The live path after an acknowledgement: stored events in micro-batches to the incremental
tags (a function given to the app, `Incremental`), their membership changes into the change log,
and the log out to subscribers (`ChangeBroker`) and webhooks (`WebhookSender`).

Two loops, each woken by the step before it and, for what other processes write (`portrait
ingest`, a sweep), by a poll every `POLL_SECONDS`:

    events stored  --nudge-->  micro-batch: incremental(engine, batch) -> changes appended
    changes appended --nudge--> read the log after the last id published -> broker, webhooks

What subscribers get is what the log holds, in id order: a change is never published before it
is committed, nor twice. The changes a step of this process committed are handed over as
appended (with their ids) and published as they are when they follow the last one published;
otherwise (another process appended in between, or this one restarted) the log is read back
from there.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import NamedTuple

from sqlalchemy.engine import Engine

from api.live.background import on_thread
from api.live.broker import ChangeBroker
from api.live.webhooks import WebhookSender
from store.live import log as live
from store.live.log import ChangeRow

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
BATCH = 5_000


class MicroBatch(NamedTuple):
    """Events and orders stored since the last micro-batch: the `seq` ranges of each table
    (after, through], and the identifiers they name (the persons they touch, before identity
    resolution)."""

    events_after: int
    events_through: int
    orders_after: int
    orders_through: int
    user_ids: frozenset[str]
    device_ids: frozenset[str]


# The incremental tags (`tagging.live.incremental.LiveTags`): the persons a micro-batch touches
# get their tags updated on top of the committed run, and the membership changes that causes
# are appended to the log in the same transaction, and returned as appended (committed, in id
# order). Called on a worker thread, one micro-batch at a time, in `seq` order.
Incremental = Callable[[Engine, MicroBatch], Sequence[ChangeRow]]
# The sweep: what is stored but not yet applied (by another process, or before a restart), and
# what the turn of a day changes; its changes appended and returned as the incremental's are.
Sweep = Callable[[Engine], Sequence[ChangeRow]]
SWEEP_SECONDS = 30.0


class LiveFeed:
    def __init__(
        self,
        *,
        engine: Engine,
        broker: ChangeBroker,
        sender: WebhookSender,
        incremental: Incremental | None,
        sweep: Sweep | None = None,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._sender = sender
        self._incremental = incremental
        self._sweep = sweep
        self._stored = asyncio.Event()
        self._appended = asyncio.Event()
        self._handed: list[ChangeRow] = []  # committed here, not yet published
        self._loop = asyncio.get_running_loop()
        with engine.connect() as connection:
            # What was there before this process started was handled (or is the sweep's).
            self._events_seq, self._orders_seq = live.last_seqs(connection=connection)
            self._published = live.last_change_id(connection=connection)

    def stored(self) -> None:
        """New events or orders were committed (callable from any thread)."""
        self._loop.call_soon_threadsafe(self._stored.set)

    def appended(self, changes: Sequence[ChangeRow] = ()) -> None:
        """New changes were committed to the log, these among them when given (callable from
        any thread)."""
        self._loop.call_soon_threadsafe(self._hand, list(changes))

    def _hand(self, changes: list[ChangeRow]) -> None:
        self._handed += changes
        self._appended.set()

    async def run(self) -> None:
        """The loops, until cancelled; none is still at work when it ends. Not `gather`: it ends
        with the first loop cancelled, while another may still wait for its store work on a
        worker thread (`on_thread`), whose connection would go back after the app disposed the
        engine, to a pool nobody closes (open until a garbage collection)."""
        async with asyncio.TaskGroup() as loops:
            loops.create_task(self._micro_batches())
            loops.create_task(self._publishing())
            loops.create_task(self._sweeping())

    async def _micro_batches(self) -> None:
        while True:
            await _woken(self._stored)
            if self._incremental is None:
                continue  # nothing computes tags yet: the events wait for the next run
            try:
                while await on_thread(self._one_batch):
                    pass
            except Exception:
                log.exception("a live micro-batch failed (events after %s)", self._events_seq)

    def _one_batch(self) -> bool:
        """Hand the next stored events to the incremental tags; False when there were none."""
        assert self._incremental is not None
        with self._engine.connect() as connection:
            events = live.events_after(connection=connection, seq=self._events_seq, limit=BATCH)
            orders = live.orders_after(connection=connection, seq=self._orders_seq, limit=BATCH)
        if not events and not orders:
            return False
        batch = MicroBatch(
            events_after=self._events_seq,
            events_through=events[-1].seq if events else self._events_seq,
            orders_after=self._orders_seq,
            orders_through=orders[-1].seq if orders else self._orders_seq,
            user_ids=frozenset(
                {e.user_id for e in events if e.user_id} | {o.user_id for o in orders}
            ),
            device_ids=frozenset(e.device_id for e in events if e.device_id),
        )
        if changes := self._incremental(self._engine, batch):
            self.appended(changes)
        self._events_seq, self._orders_seq = batch.events_through, batch.orders_through
        return True

    async def _sweeping(self) -> None:
        """The sweep every SWEEP_SECONDS (the first at once: what waited for a restart)."""
        if self._sweep is None:
            return
        while True:
            try:
                if changes := await on_thread(self._sweep, self._engine):
                    self.appended(changes)
            except Exception:
                log.exception("the live sweep failed; tried again in %s s", SWEEP_SECONDS)
            await asyncio.sleep(SWEEP_SECONDS)

    async def _publishing(self) -> None:
        while True:
            await _woken(self._appended)
            try:
                while await self._publish_some():
                    pass
            except Exception:
                log.exception("publishing changes after id %s failed; retried", self._published)

    async def _publish_some(self) -> bool:
        changes = self._next_handed()
        if changes is None:
            changes = await on_thread(self._read_log)
        if not changes:
            return False
        self._broker.publish(changes)
        self._sender.log_grew()
        self._published = changes[-1].id
        return True

    def _next_handed(self) -> list[ChangeRow] | None:
        """The changes handed over, if they are the log's next ones with no gap (None: read the
        log); those published already are let go."""
        handed = [c for c in self._handed if c.id > self._published]
        self._handed = []
        ids = [c.id for c in handed]
        if not handed or ids != list(range(self._published + 1, self._published + 1 + len(ids))):
            return None
        return handed

    def _read_log(self) -> list[live.ChangeRow]:
        with self._engine.connect() as connection:
            return live.changes_after(connection=connection, after=self._published, limit=BATCH)


async def _woken(event: asyncio.Event) -> None:
    """Until `event` is set or a poll is due; then clear it."""
    with suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), POLL_SECONDS)
    event.clear()
