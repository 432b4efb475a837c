"""How the schema executes a request: the limits on a query, the validation cache by query
text, which errors are masked and what is logged, subscriptions only as streams, and the Schema
subclass that holds them."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
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
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES, validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from store.errors import PortraitError

log = logging.getLogger(__name__)
# The deepest legitimate query (an audience's members' recommendations' rule's items) is 7.
MAX_QUERY_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2_000
LIMIT_RULES: list[type[ASTValidationRule]] = [
    depth_validator(MAX_QUERY_DEPTH, should_ignore=None),
    alias_validator(MAX_ALIASES),
]


def _original(error: GraphQLError) -> Exception | None:
    original = error.original_error
    while isinstance(original, GraphQLError):  # a coercion error wrapping a scalar's own
        original = original.original_error
    return original


def is_unexpected(error: GraphQLError) -> bool:
    """Mask bugs and infrastructure failures; keep validation errors and Portrait's own."""
    original = _original(error)
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
SUBSCRIBE_WITH_A_STREAM = (
    "a subscription answers with a stream: subscribe over a WebSocket to /graphql "
    "(graphql-transport-ws), or POST it with the header Accept: text/event-stream (SSE)"
)


class PortraitSchema(strawberry.Schema):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Validation errors by query text and rules (QueryTextValidationCache).
        self.validated: dict[
            tuple[str, tuple[type[ASTValidationRule], ...]], list[GraphQLError]
        ] = {}

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """One result for a query or mutation; a subscription is refused with how to subscribe.

        strawberry allows subscriptions in a POST for its streams (SSE) and, without one, runs
        them once as a query: the resolver never runs, the field resolves to the null root, and
        the client gets a masked "Unexpected error." (GraphiQL's POST of a subscription did).
        """
        allowed = set(
            DEFAULT_ALLOWED_OPERATION_TYPES
            if allowed_operation_types is None
            else allowed_operation_types
        )
        try:
            return await super().execute(
                query,
                variable_values,
                context_value,
                root_value,
                operation_name,
                allowed - {OperationType.SUBSCRIPTION},
                operation_extensions,
            )
        except InvalidOperationTypeError as refused:
            if OperationType.SUBSCRIPTION not in allowed or (
                refused.operation_type is not OperationType.SUBSCRIPTION
            ):
                raise
            return ExecutionResult(data=None, errors=[GraphQLError(SUBSCRIBE_WITH_A_STREAM)])

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Log only what the operator must look at; a client's bad query is the client's news.
        # Where it failed and why, never the query's text or variables (a GraphQL error prints
        # the lines of the query around it, with the user ids written in them).
        name = None if execution_context is None else execution_context.operation_name
        for error in errors:
            if is_unexpected(error):
                path = ".".join(str(part) for part in error.path or ()) or "(no field)"
                log.error(
                    "unexpected error at %s (operation %s)",
                    path,
                    name or "anonymous",
                    exc_info=_original(error),
                )


class NoSuggestions(SchemaExtension):
    """Drop graphql-core's "Did you mean ...?" hints from validation errors: in production
    they would spell out the schema that introspection keeps to itself."""

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            error.message = SUGGESTION.sub("", error.message)


SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


def extensions(*, production: bool) -> list[type[SchemaExtension] | Callable[[], SchemaExtension]]:
    """The schema's extensions; production also turns off introspection and suggestions.

    Passed as classes or factories: strawberry builds fresh ones per request.
    """
    chosen: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
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
        chosen += [DisableIntrospection, NoSuggestions]
    return chosen
