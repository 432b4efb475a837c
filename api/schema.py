"""The GraphQL schema: the query and mutation classes of each domain, merged. How it executes
(limits, caches, masked errors) is `api.execution`'s."""

from __future__ import annotations

from graphql.execution import Executor as GraphQLExecutor
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.scalar import ScalarDefinition

from api.attribution.schema import AttributionQueries
from api.audiences.scalars import TAG_EXPRESSION, TagExpression
from api.audiences.schema import AudienceMutations, AudienceQueries
from api.basket.schema import BasketQueries
from api.execution import PortraitSchema, extensions
from api.executor import PlainFieldsExecutor
from api.keys.schema import KeyMutations, KeyQueries
from api.live.schema import LiveMutations, LiveQueries, LiveSubscriptions
from api.outcomes.schema import OutcomeQueries
from api.personas.schema import PersonaQueries
from api.privacy.schema import PrivacyMutations
from api.profiles.schema import ProfileQueries
from api.runs.schema import RunMutations, RunQueries
from api.tags.schema import TagQueries

Query = merge_types(
    "Query",
    (
        ProfileQueries,
        AudienceQueries,
        BasketQueries,
        PersonaQueries,
        OutcomeQueries,
        AttributionQueries,
        TagQueries,
        RunQueries,
        KeyQueries,
        LiveQueries,
    ),
)
Mutation = merge_types(
    "Mutation", (AudienceMutations, PrivacyMutations, RunMutations, KeyMutations, LiveMutations)
)
Subscription = merge_types("Subscription", (LiveSubscriptions,))
SCALARS: dict[object, ScalarDefinition] = {TagExpression: TAG_EXPRESSION}


def build_schema(
    *, production: bool = False, executor: type[GraphQLExecutor] = PlainFieldsExecutor
) -> PortraitSchema:
    """The schema with its limits; production also turns off introspection and suggestions.
    `executor` is graphql-core's executor class (`api.executor`'s by default)."""
    return PortraitSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions(production=production),
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=executor,
    )


schema = build_schema()
