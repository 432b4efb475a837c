"""The key query and mutations, merged into the schema by `api.schema`."""

from __future__ import annotations

import strawberry

from api.context import Info
from api.keys import resolvers
from api.keys.types import ApiKey, ApiKeyRole, CreateApiKeyResult, RevokeApiKeyResult


@strawberry.type
class KeyQueries:
    @strawberry.field(description="Every API key, oldest first, revoked ones too (admin only).")
    def api_keys(self, info: Info) -> list[ApiKey]:
        return resolvers.api_keys(info)


@strawberry.type
class KeyMutations:
    @strawberry.mutation(
        description="Create a key of a role; the answer holds the key, shown this once (admin "
        "only)."
    )
    async def create_api_key(self, info: Info, role: ApiKeyRole, name: str) -> CreateApiKeyResult:
        return await resolvers.create(info, role=role.value, name=name)

    @strawberry.mutation(
        description="Revoke a key: requests with it get 401 within PORTRAIT_KEY_CACHE_SECONDS "
        "(admin only)."
    )
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> RevokeApiKeyResult:
        return await resolvers.revoke(info, key_id=str(id))
