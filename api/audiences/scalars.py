"""The `TagExpression` scalar: parsed as it arrives, so a malformed expression is the client's
validation error (with the position and a caret line), never a resolver's exception."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

import strawberry

from store.audiences.expressions import Expression, parse
from store.errors import ExpressionError


@dataclass(frozen=True)
class ParsedExpression:
    text: str
    tree: Expression


def parse_expression(value: object) -> TagExpression:
    if not isinstance(value, str):
        raise ExpressionError('a tag expression is a string, for example "lifecycle:active"')
    return TagExpression(ParsedExpression(value, parse(value)))


def serialize_expression(value: ParsedExpression | str) -> str:
    return value.text if isinstance(value, ParsedExpression) else value


TagExpression = NewType("TagExpression", ParsedExpression)

# Registered in the schema's `scalar_map` (api.schema): the type above is what resolvers see.
TAG_EXPRESSION = strawberry.scalar(
    name="TagExpression",
    description=(
        "A tag expression such as `rfm_segment:high_value AND NOT lifecycle:churn_risk`: "
        "key:value, key IN (a, b), key (any value), key >= number (compares scores), AND, OR, "
        "NOT and parentheses; keywords in any case; at most 2,000 characters."
    ),
    serialize=serialize_expression,
    parse_value=parse_expression,
)
