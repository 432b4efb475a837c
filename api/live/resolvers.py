"""Resolvers of the webhook query and mutations (analysts and admins)."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool

from api import auth
from api.context import Info
from api.ids import id_number
from api.live.types import (
    RegisterWebhookResult,
    RemoveWebhookResult,
    Webhook,
    WebhookError,
    WebhookRegistered,
)
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live import webhooks


def webhooks_of(info: Info, *, saved_audience_id: str | None) -> list[Webhook]:
    auth.require(info.context.key, "analyst", what="webhooks")
    connection = info.context.connection
    found = webhooks.active(connection=connection, audience=saved_audience_id)
    return [
        Webhook.from_row(w, deliveries=webhooks.attempts(connection=connection, webhook_id=w.id))
        for w in found
    ]


async def register(info: Info, *, saved_audience_id: str, url: str) -> RegisterWebhookResult:
    context = info.context
    context.require_live("analyst", what="registerWebhook")
    problem = _url_problem(url)
    if problem is not None:
        return WebhookError(message=problem)

    def registered() -> WebhookRegistered | WebhookError:
        with context.engine.begin() as connection:
            if saved_audiences.get(connection=connection, name=saved_audience_id) is None:
                return WebhookError(
                    message=f"there is no saved audience named {saved_audience_id!r}"
                )
            row = webhooks.register(
                connection=connection,
                audience=saved_audience_id,
                url=url,
                created_by=context.actor,
                key_id=None if context.key is None else context.key.id,
                start_after=live.last_change_id(connection=connection),
            )
        return WebhookRegistered(webhook=Webhook.from_row(row, deliveries=[]), secret=row.secret)

    answer = await run_in_threadpool(registered)
    context.live.sender.registered()
    return answer


def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"url {url!r} must be an http:// or https:// address"
    if parts.username or parts.password:
        return f"url {url!r} must not hold a user name or password (the signature authenticates)"
    if len(url) > 2_000:
        return "url is longer than 2000 characters"
    return None


async def remove(info: Info, *, webhook_id: str) -> RemoveWebhookResult:
    context = info.context
    context.require_live("analyst", what="removeWebhook")
    number = id_number(webhook_id)

    def removed() -> Webhook | WebhookError:
        with context.engine.begin() as connection:
            found = (
                None if number is None else webhooks.get(connection=connection, webhook_id=number)
            )
            if found is None or found.removed_at is not None:
                return WebhookError(message=f"there is no webhook with id {webhook_id!r}")
            webhooks.remove(connection=connection, webhook_id=found.id)
            row = webhooks.get(connection=connection, webhook_id=found.id)
            assert row is not None
            attempts = webhooks.attempts(connection=connection, webhook_id=found.id)
        return Webhook.from_row(row, deliveries=attempts)

    answer = await run_in_threadpool(removed)
    context.live.sender.registered()
    return answer
