"""The audit of what subscriptions send, written for all subscribers together.

A published batch of changes wakes every subscriber of the audiences it touches at once, and
each must have its persons audited before it sends them. Written one subscriber at a time,
twenty subscribers made twenty transactions (and twenty key checks) per micro-batch, as much
work as taking the events in. Here the subscribers that ask while a write is under way (or in
the same turn of the event loop) are written by the next one: one key check per key, one
current run, one transaction (a group commit). Each subscriber still sends only after its own
reads are committed to the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

from sqlalchemy.engine import Engine

from api import auth
from api.live.background import on_thread
from store import keys
from store.errors import Forbidden
from store.keys import KeyRow, PersonRead
from store.runs import reads as run_reads

WHAT = "audienceChanges"


class _Asked:
    def __init__(self, key: KeyRow, persons: Sequence[str]) -> None:
        self.key = key
        self.persons = persons
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class SubscriptionAudit:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._waiting: list[_Asked] = []
        self._writer: asyncio.Task[None] | None = None

    async def audit(self, key: KeyRow, persons: Sequence[str]) -> None:
        """Audit `persons` as read by `key` through a subscription, once the store says the
        key is still live (a subscription outlives the key cache); Forbidden if it was revoked."""
        asked = _Asked(key, persons)
        self._waiting.append(asked)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await asked.done

    async def close(self) -> None:
        """Wait for the write under way, which writes whatever is waiting (each subscriber
        sends only after its reads are audited, so none is dropped): the app disposes its
        engine after this, and a connection a write gave back later would stay open."""
        if self._writer is not None:
            with suppress(asyncio.CancelledError):
                await self._writer

    async def _write_all(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting, []
            try:
                refused = await on_thread(self._write, group)
            except BaseException as error:  # every subscriber of the group hears of it
                for asked in group:
                    if not asked.done.done():
                        asked.done.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for asked in group:
                if asked.done.done():
                    continue  # its subscriber is gone
                if asked.key.id in refused:
                    asked.done.set_exception(refused[asked.key.id])
                else:
                    asked.done.set_result(None)

    def _write(self, group: Sequence[_Asked]) -> dict[int, Exception]:
        """Audit the group's reads in one transaction; the error of each key now revoked."""
        refused: dict[int, Exception] = {}
        with self._engine.connect() as connection:
            for key in {asked.key.id: asked.key for asked in group}.values():
                try:
                    auth.require_live(key, "analyst", what=WHAT, connection=connection)
                except Forbidden as error:
                    refused[key.id] = error
            run = run_reads.current_run(connection=connection)
        run_id = 0 if run is None else run.id
        keys.audit_all(
            engine=self._engine,
            reads=[
                (asked.key, [PersonRead(run_id, person, WHAT) for person in asked.persons])
                for asked in group
                if asked.key.id not in refused
            ],
        )
        return refused
