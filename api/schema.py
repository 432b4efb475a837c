"""The GraphQL schema: the query classes of each type family, merged, plus the extensions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.scalar import ScalarDefinition

from api.attribution.schema import AttributionQueries
from api.audiences.scalars import TAG_EXPRESSION, TagExpression
from api.audiences.schema import AudienceMutations, AudienceQueries
from api.basket.schema import BasketQueries
from api.keys.schema import KeyMutations, KeyQueries
from api.outcomes.schema import OutcomeQueries
from api.personas.schema import PersonaQueries
from api.privacy.schema import PrivacyMutations
from api.profiles.schema import ProfileQueries
from api.runs.schema import RunMutations, RunQueries
from api.tags.schema import TagQueries
from store.errors import PortraitError

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
    ),
)
Mutation = merge_types(
    "Mutation", (AudienceMutations, PrivacyMutations, RunMutations, KeyMutations)
)
SCALARS: dict[object, ScalarDefinition] = {TagExpression: TAG_EXPRESSION}
# The deepest legitimate query (an audience's members' recommendations' rule's items) is 7.
MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2_000
LIMIT_RULES: list[type[ASTValidationRule]] = [
    depth_validator(MAX_DEPTH, should_ignore=None),
    alias_validator(MAX_ALIASES),
]


def is_unexpected(error: GraphQLError) -> bool:
    """Mask bugs and infrastructure failures; keep validation errors and Portrait's own."""
    original = error.original_error
    while isinstance(original, GraphQLError):  # a coercion error wrapping a scalar's own
        original = original.original_error
    return original is not None and not isinstance(original, PortraitError)


class MaskUnexpectedErrors(MaskErrors):
    """MaskErrors that hides only unexpected exceptions (they are still logged in full)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected)

    def _process_result(self, result: object) -> None:
        # MaskErrors first asks isinstance of a runtime-checkable Protocol, which costs more
        # than all the rest of it on every request; a result without errors has nothing to mask.
        if getattr(result, "errors", None):
            super()._process_result(result)


class QueryTextValidationCache(SchemaExtension):
    """Validation results by query text (and rules), like strawberry's ValidationCache.

    That one keys its cache by the parsed document, and hashing a document walks its whole
    syntax tree on every request (2% of a profile's time); the text names the same document
    (the parser is cached by text too) and hashes in one pass.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        schema = context.schema
        if (
            isinstance(schema, PortraitSchema)
            and context.query is not None
            and context.graphql_document is not None
        ):
            key = (context.query, context.validation_rules)
            errors = schema.validated.get(key)
            if errors is None:
                errors = validate_document(
                    schema._schema, context.graphql_document, context.validation_rules
                )
                if len(schema.validated) >= VALIDATED_TEXTS:
                    del schema.validated[next(iter(schema.validated))]  # the first one kept
                schema.validated[key] = errors
            context.pre_execution_errors = errors
        yield


# As strawberry's caches: bounded, so unique query texts cannot grow memory without limit.
VALIDATED_TEXTS = 128


class PortraitSchema(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Validation errors by query text and rules (QueryTextValidationCache).
        self.validated: dict[
            tuple[str, tuple[type[ASTValidationRule], ...]], list[GraphQLError]
        ] = {}

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Log only what the operator must look at; a client's bad query is the client's news.
        unexpected = [error for error in errors if is_unexpected(error)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


class NoSuggestions(SchemaExtension):
    """Drop graphql-core's "Did you mean ...?" hints from validation errors: in production
    they would spell out the schema that introspection keeps to itself."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            error.message = SUGGESTION.sub("", error.message)


SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def build_schema(*, production: bool = False) -> PortraitSchema:
    """The schema with its limits; production also turns off introspection and suggestions.

    Extensions are passed as classes or factories: strawberry builds fresh ones per request.
    """
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        ParserCache,
        QueryTextValidationCache,
        # The limit rules are built once: a rule class made per request (as QueryDepthLimiter
        # and MaxAliasesLimiter do) is a new key of the validation cache every time, which
        # made every request validate from scratch (~3x slower profiles).
        partial(AddValidationRules, LIMIT_RULES),
        partial(MaxTokensLimiter, max_token_count=MAX_TOKENS),
        MaskUnexpectedErrors,
    ]
    if production:
        extensions += [DisableIntrospection, NoSuggestions]
    return PortraitSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
    )


schema = build_schema()
