"""GraphQL types of forgetting a person."""

from __future__ import annotations

from typing import Annotated

import strawberry

from api.errors import NotFoundError
from store.suppressions import Forgotten


@strawberry.type(description="What forgetting a person removed.")
class ForgetPersonSuccess:
    person_id: strawberry.ID
    runs: int = strawberry.field(description="Runs the person was removed from.")
    identifiers: int = strawberry.field(
        description="Identifiers put on the suppression list (as keyed hashes): later runs "
        "leave out whoever holds one of them."
    )
    quarantined_rows: int = strawberry.field(
        description="Quarantined source rows of theirs (naming one of them, or lines of their "
        "orders), deleted, in every kept run."
    )

    @classmethod
    def of(cls, forgotten: Forgotten) -> ForgetPersonSuccess:
        return cls(
            person_id=strawberry.ID(forgotten.person_id),
            runs=forgotten.runs,
            identifiers=forgotten.identifiers,
            quarantined_rows=forgotten.quarantined_rows,
        )


ForgetPersonResult = Annotated[
    ForgetPersonSuccess | NotFoundError, strawberry.union("ForgetPersonResult")
]
