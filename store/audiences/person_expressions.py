"""One person's answer to a tag expression, read straight off their tags: the plain-Python
meaning of an expression that the bitmap index and SQL must agree with (the Hypothesis tests
hold them to it), and how the live path evaluates saved audiences for the persons a micro-batch
touches.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence

from store.audiences.expressions import And, Compare, Expression, HasKey, HasValue, Not, Or

# A person's tags by key: each value with its score (None: unscored).
PersonTags = Mapping[str, Sequence[tuple[str, float | None]]]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "=": operator.eq,
    "!=": operator.ne,
}


def holds(expression: Expression, tags: PersonTags) -> bool:
    """Whether a person with these tags is in the audience `expression` selects."""
    match expression:
        case HasValue(key=key, values=values):
            return any(value in values for value, _ in tags.get(key, ()))
        case HasKey(key=key):
            return bool(tags.get(key))
        case Compare(key=key, op=op, number=number):
            test = OPERATORS[op]
            return any(s is not None and test(s, number) for _, s in tags.get(key, ()))
        case Not(item=item):
            return not holds(item, tags)
        case And(items=items):
            return all(holds(item, tags) for item in items)
        case Or(items=items):
            return any(holds(item, tags) for item in items)
    raise TypeError(f"not an expression: {expression!r}")


def compiled(expression: Expression) -> Callable[[PersonTags], bool]:
    """`holds` for one expression as a function of a person's tags, made once: the live path
    tests every saved audience on thousands of persons a step, where walking the expression
    each time cost more than the test."""
    match expression:
        case HasValue(key=key, values=values):
            wanted = frozenset(values)
            return lambda tags: any(value in wanted for value, _ in tags.get(key, ()))
        case HasKey(key=key):
            return lambda tags: bool(tags.get(key))
        case Compare(key=key, op=op, number=number):
            test = OPERATORS[op]
            return lambda tags: any(
                s is not None and test(s, number) for _, s in tags.get(key, ())
            )
        case Not(item=item):
            inner = compiled(item)
            return lambda tags: not inner(tags)
        case And(items=items):
            parts = [compiled(item) for item in items]
            return lambda tags: all(part(tags) for part in parts)
        case Or(items=items):
            parts = [compiled(item) for item in items]
            return lambda tags: any(part(tags) for part in parts)
    raise TypeError(f"not an expression: {expression!r}")


def keys_in(expression: Expression) -> list[str]:
    """The tag keys an expression reads, in the order they appear."""
    match expression:
        case HasValue(key=key) | HasKey(key=key) | Compare(key=key):
            return [key]
        case Not(item=item):
            return keys_in(item)
        case And(items=items) | Or(items=items):
            found: list[str] = []
            for item in items:
                found += [key for key in keys_in(item) if key not in found]
            return found
    raise TypeError(f"not an expression: {expression!r}")
