"""GraphQL types of the live path: membership changes (or, for operators, their counts per
minute) and webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from api.counts import CountRange
from store.live.log import ChangeRow
from store.live.webhooks import Attempt, WebhookRow


@strawberry.enum(description="Whether a person entered or left the audience.")
class MembershipChangeKind(Enum):
    ENTERED = "entered"
    LEFT = "left"


@strawberry.type(description="A person entering or leaving a saved audience (analysts, admins).")
class MembershipChange:
    id: strawberry.ID = strawberry.field(
        description="The change's place in the log: subscribe with `after` set to it to resume."
    )
    person_id: str
    change: MembershipChangeKind
    at: datetime
    why: str = strawberry.field(
        description=(
            "The tag keys whose change moved the person (comma separated), or `merged`: the "
            "person left because an event made them one with another person, who stays."
        )
    )

    @classmethod
    def from_row(cls, row: ChangeRow) -> MembershipChange:
        return cls(
            id=strawberry.ID(str(row.id)),
            person_id=row.person_id,
            change=MembershipChangeKind(row.change),
            at=row.at,
            why=row.why,
        )


@strawberry.type(
    description="Changes published together, in the log's order (a subscription with "
    "`batched: true`; analysts, admins): one message for many, for audiences that move by "
    "thousands at once."
)
class MembershipChanges:
    changes: list[MembershipChange]
    through: strawberry.ID = strawberry.field(
        description="The id of the last change here: subscribe with `after` set to it to resume."
    )

    @classmethod
    def from_rows(cls, rows: Sequence[ChangeRow]) -> MembershipChanges:
        return cls(
            changes=[MembershipChange.from_row(row) for row in rows],
            through=strawberry.ID(str(rows[-1].id)),
        )


@strawberry.type(
    description="How many entered and left a saved audience in one minute (what an operator "
    "gets: counts under the minimum audience size as ranges)."
)
class MembershipCounts:
    minute: datetime = strawberry.field(description="The minute's start (UTC).")
    entered: int | None = strawberry.field(description="Null when only its range is shown.")
    entered_range: CountRange
    left: int | None = strawberry.field(description="Null when only its range is shown.")
    left_range: CountRange
    through: strawberry.ID = strawberry.field(
        description="The id of the last change counted: subscribe with `after` set to it to resume."
    )


AudienceChangeUpdate = Annotated[
    MembershipChange | MembershipChanges | MembershipCounts,
    strawberry.union(
        "AudienceChangeUpdate",
        description="Members' changes one by one or batched (analysts, admins), or counts per "
        "minute (operators).",
    ),
]


@strawberry.type(description="One attempt to deliver a batch of changes to a webhook.")
class WebhookDelivery:
    first_change: strawberry.ID
    last_change: strawberry.ID
    changes: int
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    delivered: bool

    @classmethod
    def from_row(cls, row: Attempt) -> WebhookDelivery:
        return cls(
            first_change=strawberry.ID(str(row.first_change)),
            last_change=strawberry.ID(str(row.last_change)),
            changes=row.changes,
            attempt=row.attempt,
            at=row.at,
            status_code=row.status_code,
            error=row.error,
            delivered=row.delivered,
        )


@strawberry.type(description="Where a saved audience's membership changes are POSTed.")
class Webhook:
    id: strawberry.ID
    saved_audience_id: str
    url: str
    created_by: str
    created_at: datetime
    delivered_through: strawberry.ID = strawberry.field(
        description="The last change the endpoint acknowledged."
    )
    removed: bool
    deliveries: list[WebhookDelivery] = strawberry.field(
        description="The latest delivery attempts, oldest first."
    )

    @classmethod
    def from_row(cls, row: WebhookRow, *, deliveries: list[Attempt]) -> Webhook:
        return cls(
            id=strawberry.ID(str(row.id)),
            saved_audience_id=row.audience,
            url=row.url,
            created_by=row.created_by,
            created_at=row.created_at,
            delivered_through=strawberry.ID(str(row.delivered_through)),
            removed=row.removed_at is not None,
            deliveries=[WebhookDelivery.from_row(a) for a in deliveries],
        )


@strawberry.type(
    description="A webhook registered; `secret` signs its deliveries and is shown this once."
)
class WebhookRegistered:
    webhook: Webhook
    secret: str


@strawberry.type(description="Why a webhook was not registered or removed.")
class WebhookError:
    message: str


RegisterWebhookResult = Annotated[
    WebhookRegistered | WebhookError, strawberry.union("RegisterWebhookResult")
]
RemoveWebhookResult = Annotated[Webhook | WebhookError, strawberry.union("RemoveWebhookResult")]
