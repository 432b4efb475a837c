"""The live path's subscription, webhook query and mutations, merged into the schema by
`api.schema`."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from api.context import Info
from api.live import resolvers, subscriptions
from api.live.types import AudienceChangeUpdate, RegisterWebhookResult, RemoveWebhookResult, Webhook


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description="People entering and leaving a saved audience as live events move them: "
        "each change for analysts and admins (audited as reads), counts per minute for "
        "operators. From `after` (a change's id) on when given, else from now on. With "
        "`batched`, members' changes come as they were published, many in one message."
    )
    async def audience_changes(
        self,
        info: Info,
        saved_audience_id: str,
        after: strawberry.ID | None = None,
        batched: bool = False,
    ) -> AsyncGenerator[AudienceChangeUpdate, None]:
        async for update in subscriptions.audience_changes(
            info, saved_audience_id=saved_audience_id, after=after, batched=batched
        ):
            yield update


@strawberry.type
class LiveQueries:
    @strawberry.field(
        description="Webhooks not removed, of one saved audience when given, with their latest "
        "delivery attempts (analysts, admins)."
    )
    def webhooks(self, info: Info, saved_audience_id: str | None = None) -> list[Webhook]:
        return resolvers.webhooks_of(info, saved_audience_id=saved_audience_id)


@strawberry.type
class LiveMutations:
    @strawberry.mutation(
        description="POST a saved audience's membership changes to `url`, signed with the "
        "secret in the answer (shown this once), from now on (analysts, admins)."
    )
    async def register_webhook(
        self, info: Info, saved_audience_id: str, url: str
    ) -> RegisterWebhookResult:
        return await resolvers.register(info, saved_audience_id=saved_audience_id, url=url)

    @strawberry.mutation(description="Stop a webhook's deliveries; its log stays.")
    async def remove_webhook(self, info: Info, id: strawberry.ID) -> RemoveWebhookResult:
        return await resolvers.remove(info, webhook_id=str(id))
