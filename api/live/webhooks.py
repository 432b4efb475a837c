"""Delivering membership changes to webhooks: signed POSTs of batched changes, retried with
exponential back-off, at least once, every attempt logged (`store.live.webhooks`).

Each webhook has a task of its own, so one dead endpoint delays nobody else's deliveries, and
ingest never waits for any: the change log is the queue (durable, so deliveries resume after a
restart from the webhook's `delivered_through`), and what the tasks keep in memory is a flag
per webhook saying the log has grown.

The body is JSON; `X-Portrait-Signature: sha256=<hex>` is HMAC-SHA256 of the body's bytes under
the webhook's secret. A receiver recomputes it over the bytes it got, compares in constant time,
and drops changes whose `id` it has seen (a retried batch repeats them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime

import httpx
import orjson
from sqlalchemy.engine import Engine

from api.live.background import on_thread
from store import keys
from store.keys import PersonRead
from store.live import log as live
from store.live import webhooks
from store.live.log import ChangeRow
from store.live.webhooks import Attempt, WebhookRow
from store.runs import reads as run_reads

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Portrait-Signature"
BATCH = 500  # changes per POST
TIMEOUT_SECONDS = 10.0
MAX_RETRY_SECONDS = 300.0
# How often the set of webhooks is read again (a webhook registered in another worker).
RESCAN_SECONDS = 5.0


def signature(secret: str, body: bytes) -> str:
    """The signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(webhook: WebhookRow, changes: Sequence[ChangeRow]) -> bytes:
    return orjson.dumps(
        {
            "webhookId": str(webhook.id),
            "savedAudienceId": webhook.audience,
            "changes": [
                {
                    "id": str(c.id),
                    "personId": c.person_id,
                    "change": c.change,
                    "at": c.at.isoformat(),
                    "why": c.why,
                }
                for c in changes
            ],
        }
    )


class WebhookSender:
    def __init__(self, *, engine: Engine, first_retry_seconds: float) -> None:
        self._engine = engine
        self._first_retry = first_retry_seconds
        self._grown: dict[int, asyncio.Event] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._rescan = asyncio.Event()
        self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)

    def log_grew(self) -> None:
        """The change log has new changes: every webhook looks (called on the event loop)."""
        for grown in self._grown.values():
            grown.set()

    def registered(self) -> None:
        """A webhook was registered or removed here: read the set again now."""
        self._rescan.set()

    async def run(self) -> None:
        """Keep one delivery task per active webhook, until cancelled."""
        try:
            while True:
                found = await on_thread(self._active)
                for webhook in found:
                    if webhook.id not in self._tasks:
                        self._grown[webhook.id] = asyncio.Event()
                        self._grown[webhook.id].set()
                        self._tasks[webhook.id] = asyncio.create_task(self._deliver(webhook.id))
                for gone in self._tasks.keys() - {w.id for w in found}:
                    self._tasks.pop(gone).cancel()
                    del self._grown[gone]
                self._rescan.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._rescan.wait(), RESCAN_SECONDS)
        finally:
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            await self._client.aclose()

    def _active(self) -> list[WebhookRow]:
        with self._engine.connect() as connection:
            return webhooks.active(connection=connection)

    async def _deliver(self, webhook_id: int) -> None:
        grown = self._grown[webhook_id]
        while True:
            await grown.wait()
            grown.clear()
            try:
                while pending := await on_thread(self._pending, webhook_id):
                    await self._until_delivered(*pending)
            except Exception:  # the store, most likely: this webhook tries again, alone
                log.exception("webhook %s: delivery stopped; trying again", webhook_id)
                await asyncio.sleep(self._first_retry)
                grown.set()

    def _pending(self, webhook_id: int) -> tuple[WebhookRow, list[ChangeRow]] | None:
        with self._engine.connect() as connection:
            webhook = webhooks.get(connection=connection, webhook_id=webhook_id)
            if webhook is None or webhook.removed_at is not None:
                return None
            if webhook.key_id is not None and not keys.live_by_id(
                connection=connection, key_id=webhook.key_id
            ):
                return None  # its key was revoked: its persons go nowhere any more
            changes = live.changes_after(
                connection=connection,
                after=webhook.delivered_through,
                audience=webhook.audience,
                limit=BATCH,
            )
        return (webhook, changes) if changes else None

    async def _until_delivered(self, webhook: WebhookRow, changes: list[ChangeRow]) -> None:
        body = body_of(webhook, changes)
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: signature(webhook.secret, body),
        }
        attempt = 0
        while True:
            attempt += 1
            status, error = await self._post(webhook.url, body, headers)
            delivered = status is not None and 200 <= status < 300
            logged = Attempt(
                webhook.id,
                changes[0].id,
                changes[-1].id,
                len(changes),
                attempt,
                datetime.now(UTC),
                status,
                error,
                delivered,
            )
            await on_thread(self._record, webhook, changes, logged)
            if delivered:
                return
            await asyncio.sleep(min(self._first_retry * 2 ** (attempt - 1), MAX_RETRY_SECONDS))

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"the endpoint answered {response.status_code}"

    def _record(self, webhook: WebhookRow, changes: list[ChangeRow], attempt: Attempt) -> None:
        if attempt.delivered:
            self._audit(webhook, changes)
        with self._engine.begin() as connection:
            webhooks.record_attempt(connection=connection, attempt=attempt)

    def _audit(self, webhook: WebhookRow, changes: list[ChangeRow]) -> None:
        """The endpoint read these persons with the registering key's rights: audited so, before
        the delivery is recorded (a crash in between audits a read once more, never less)."""
        if webhook.key_id is None:
            return
        with self._engine.connect() as connection:
            key = keys.live_by_id(connection=connection, key_id=webhook.key_id)
            run = run_reads.current_run(connection=connection)
        if key is not None:
            run_id = 0 if run is None else run.id
            reads = [PersonRead(run_id, c.person_id, f"webhook {webhook.id}") for c in changes]
            keys.audit(engine=self._engine, key=key, reads=reads)
