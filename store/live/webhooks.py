"""Webhooks of saved audiences: where membership changes are POSTed, how far each one got, and
the log of every delivery attempt.

A webhook's `delivered_through` is the id of the last change its endpoint acknowledged; it moves
in the transaction that logs the acknowledged attempt. A crash between the endpoint's answer and
that commit sends the batch again: delivery is at least once, and receivers deduplicate by the
changes' ids. The secret signs the bodies (HMAC-SHA256), so the store keeps it as it is; the
API shows it once, when the webhook is registered.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import BigInteger, Column, Connection, Integer, Text, insert, select, update
from sqlmodel import Field, SQLModel

from store.errors import NotFound
from store.models import table_of

SEQUENCE = BigInteger().with_variant(Integer, "sqlite")


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: int | None = Field(default=None, primary_key=True)
    audience: str = Field(index=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    secret: str
    key_id: int | None = None  # the key that registered it; deliveries are audited as its reads
    created_by: str
    created_at: datetime
    delivered_through: int = 0  # the last change id its endpoint acknowledged
    removed_at: datetime | None = None


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver a batch of changes (ids first_change..last_change)."""

    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, sa_column=Column(SEQUENCE, primary_key=True))
    webhook_id: int = Field(foreign_key="webhooks.id", index=True)
    first_change: int
    last_change: int
    changes: int
    attempt: int
    at: datetime
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    delivered: bool


_webhooks = table_of(Webhook)
_deliveries = table_of(WebhookDelivery)


class WebhookRow(NamedTuple):
    id: int
    audience: str
    url: str
    secret: str
    key_id: int | None
    created_by: str
    created_at: datetime
    delivered_through: int
    removed_at: datetime | None


_WEBHOOK_COLUMNS = [_webhooks.c[name] for name in WebhookRow._fields]


def register(
    *,
    connection: Connection,
    audience: str,
    url: str,
    created_by: str,
    key_id: int | None,
    start_after: int,
) -> WebhookRow:
    """A new webhook of `audience` with a new secret, delivering the changes after
    `start_after` (the log's last id: what happens from now on)."""
    values = {
        "audience": audience,
        "url": url,
        "secret": "whsec_" + secrets.token_urlsafe(32),
        "key_id": key_id,
        "created_by": created_by,
        "created_at": datetime.now(UTC),
        "delivered_through": start_after,
    }
    result = connection.execute(insert(_webhooks).values(**values))
    webhook_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    found = get(connection=connection, webhook_id=webhook_id)
    assert found is not None
    return found


def get(*, connection: Connection, webhook_id: int) -> WebhookRow | None:
    row = connection.execute(select(*_WEBHOOK_COLUMNS).where(_webhooks.c.id == webhook_id)).first()
    return None if row is None else WebhookRow(*row)


def active(*, connection: Connection, audience: str | None = None) -> list[WebhookRow]:
    """The webhooks not removed, oldest first; of one audience when given."""
    statement = select(*_WEBHOOK_COLUMNS).where(_webhooks.c.removed_at.is_(None))
    if audience is not None:
        statement = statement.where(_webhooks.c.audience == audience)
    return [WebhookRow(*row) for row in connection.execute(statement.order_by(_webhooks.c.id))]


def remove(*, connection: Connection, webhook_id: int) -> None:
    """Stop a webhook's deliveries (its log stays)."""
    done = connection.execute(
        update(_webhooks)
        .where(_webhooks.c.id == webhook_id, _webhooks.c.removed_at.is_(None))
        .values(removed_at=datetime.now(UTC))
    )
    if done.rowcount != 1:
        raise NotFound(f"there is no webhook with id {webhook_id}")


class Attempt(NamedTuple):
    webhook_id: int
    first_change: int
    last_change: int
    changes: int
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    delivered: bool


def record_attempt(*, connection: Connection, attempt: Attempt) -> None:
    """Log one attempt in the caller's transaction; a delivered one moves the webhook's
    `delivered_through` to its last change."""
    connection.execute(insert(_deliveries).values(**attempt._asdict()))
    if attempt.delivered:
        connection.execute(
            update(_webhooks)
            .where(
                _webhooks.c.id == attempt.webhook_id,
                _webhooks.c.delivered_through < attempt.last_change,
            )
            .values(delivered_through=attempt.last_change)
        )


def attempts(*, connection: Connection, webhook_id: int, limit: int = 100) -> list[Attempt]:
    """The webhook's latest `limit` attempts, oldest first."""
    columns = [_deliveries.c[name] for name in Attempt._fields]
    statement = (
        select(*columns)
        .where(_deliveries.c.webhook_id == webhook_id)
        .order_by(_deliveries.c.id.desc())
        .limit(limit)
    )
    rows = reversed(connection.execute(statement).all())
    return [Attempt(*row) for row in rows]
