"""The expected failures of mutations, as GraphQL types: members of each mutation's result union.

Every mutation answers `<Mutation>Success | <errors>` (strawberry's errors guide), as
`tagDistribution` answers `TagDistribution | UnknownTagKey`: what a caller can get wrong and
put right (an argument refused, a name nothing has, an audience another key made, a run
already working) is in the schema, and every such type implements `MutationError`. Three things
stay GraphQL errors, as they are for every query: a key whose role does not reach the field
(`api.auth`: the role matrix is the same for queries and mutations), a busy store, and bugs
(masked, `api.execution`).
"""

from __future__ import annotations

import strawberry

from store.errors import PortraitError


@strawberry.interface(description="An expected failure of a mutation.")
class MutationError:
    message: str = strawberry.field(description="What went wrong, naming the value at fault.")
    field: str | None = strawberry.field(
        description="The argument at fault; null when the failure is no one argument's."
    )


@strawberry.type(description="An argument's value is refused; the message says why and the fix.")
class InvalidInputError(MutationError):
    @classmethod
    def of(cls, error: PortraitError, *, field: str | None) -> InvalidInputError:
        return cls(message=str(error), field=field)


@strawberry.type(description="What an argument names is not in the store.")
class NotFoundError(MutationError):
    @classmethod
    def of(cls, error: PortraitError, *, field: str | None) -> NotFoundError:
        return cls(message=str(error), field=field)
