"""GraphQL types of API keys; a key itself is shown once, when created."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from api.errors import InvalidInputError, NotFoundError
from store.keys import KeyRow


@strawberry.enum(description="What a key may read: see the README's Access section.")
class ApiKeyRole(Enum):
    INGEST = "ingest"
    OPERATOR = "operator"
    ANALYST = "analyst"
    ADMIN = "admin"


@strawberry.type(description="An API key's record (never the key itself).")
class ApiKey:
    id: strawberry.ID
    role: ApiKeyRole
    name: str
    created_at: datetime
    created_by: str | None = strawberry.field(
        description="Who made it: the name of the admin key, or `command line`; null for keys "
        "made before keys recorded it (and in revokeApiKey's answer)."
    )
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: KeyRow, *, created_by: str | None) -> ApiKey:
        return cls(
            id=strawberry.ID(str(row.id)),
            role=ApiKeyRole(row.role),
            name=row.name,
            created_at=row.created_at,
            created_by=created_by,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A new key: `key` is shown this once; the store keeps its hash.")
class CreateApiKeySuccess:
    key: str
    api_key: ApiKey


@strawberry.type(description="The key, revoked.")
class RevokeApiKeySuccess:
    api_key: ApiKey


CreateApiKeyResult = Annotated[
    CreateApiKeySuccess | InvalidInputError, strawberry.union("CreateApiKeyResult")
]
RevokeApiKeyResult = Annotated[
    RevokeApiKeySuccess | NotFoundError, strawberry.union("RevokeApiKeyResult")
]
