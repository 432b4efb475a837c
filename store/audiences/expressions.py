"""Tag expressions: the language audience builders select people with.

    rfm_segment:high_value AND preferred_category IN (baby, outdoor) AND NOT lifecycle:churn_risk

`parse` turns text into a small tree of frozen dataclasses (the grammar is lark's, see
`GRAMMAR`); `check` then holds the tree against the keys and values of a run. Both raise only
`ExpressionError`, with the position at fault and a caret line under the text, so that hostile
or mistyped input is an answer for the client, never a server error. Length and nesting are
bounded before anything recursive runs.

A comparison (`monetary > 500`, `preferred_category >= 0.5`) matches a person who has a tag of
the key whose score compares true; tags without a score never match one. Number keys
(recency_days, frequency, monetary) are compared, not matched by value.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal, Protocol

from lark import Lark, Token, Transformer_NonRecursive
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    VisitError,
)

from store.errors import ExpressionError

MAX_LENGTH = 2_000
# One limit for both evaluators: SQLite's parser overflows its stack on the SQL of trees a level
# or two deeper (11 NOTs, or 6 of `NOT (a OR ...)`), where the bitmap index would still answer.
MAX_DEPTH = 10
CLOSEST = 3
_SHOWN_AROUND = 60  # characters of the text shown each side of the caret
_BARE_VALUE = re.compile(r"[\w.+\-]+")

Comparison = Literal["<", "<=", ">", ">=", "=", "!="]

GRAMMAR = r"""
?start: or_
?or_: and_ (_OR and_)*
?and_: not_ (_AND not_)*
?not_: _NOT not_ -> negation
     | atom
?atom: "(" or_ ")"
     | KEY ":" value -> has_value
     | KEY _IN "(" value ("," value)* ")" -> has_any
     | KEY COMPARISON NUMBER -> compare
     | KEY -> has_key
value: VALUE | STRING

_OR.2: /or\b/i
_AND.2: /and\b/i
_NOT.2: /not\b/i
_IN.2: /in\b/i
KEY: /[^\W\d]\w*/i
VALUE: /[\w.+\-]+/i
STRING: /"[^"]*"/ | /'[^']*'/
COMPARISON: "<=" | ">=" | "!=" | "<" | ">" | "="
NUMBER: /[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?/i

%import common.WS
%ignore WS
"""


@dataclass(frozen=True)
class HasValue:
    """`key:value` or `key IN (a, b)`: the person has one of the values."""

    key: str
    values: tuple[str, ...]
    position: int = field(compare=False)


@dataclass(frozen=True)
class HasKey:
    """`key`: the person has any value of the key."""

    key: str
    position: int = field(compare=False)


@dataclass(frozen=True)
class Compare:
    """`key < number` and friends: some tag of the key has a score that compares true."""

    key: str
    op: Comparison
    number: float
    position: int = field(compare=False)


@dataclass(frozen=True)
class Not:
    item: Expression


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


Term = HasValue | HasKey | Compare
Expression = Term | Not | And | Or


def parse(text: str) -> Expression:
    """The tree of one expression; raises ExpressionError naming the position at fault."""
    if len(text) > MAX_LENGTH:
        raise _error(text, MAX_LENGTH, f"the expression is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise _error(text, 0, "the expression is empty")
    _check_nesting(text)
    try:
        tree = _parser().parse(text)
        expression: Expression = _ToExpression().transform(tree)
    except VisitError as error:  # a number too large for a float
        token = error.orig_exc.token if isinstance(error.orig_exc, _NotFinite) else None
        message = f"{token} is not a finite number" if token else "the expression does not parse"
        raise _error(text, _start(token) if token else 0, message) from None
    except UnexpectedInput as error:
        raise _error(text, _position(error, text), _explain(error)) from None
    except LarkError as error:  # any other parser failure is still the text's fault
        raise _error(text, 0, f"the expression does not parse ({error})") from None
    _check_depth(expression, text)
    return expression


def terms(expression: Expression) -> Iterator[Term]:
    """Every key:value, key and comparison of the expression, left to right."""
    stack = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, And | Or):
            stack.extend(reversed(node.items))
        elif isinstance(node, Not):
            stack.append(node.item)
        else:
            yield node


@dataclass(frozen=True)
class KeyVocabulary:
    """What a run knows of one tag key: its value type and, for closed keys, its values."""

    value_type: str  # category | score | number | flag
    values: frozenset[str]  # empty: any value is accepted (an open key)


class _Definition(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def value_type(self) -> str: ...
    @property
    def values(self) -> list[str]: ...


def vocabulary(definitions: Iterable[_Definition]) -> dict[str, KeyVocabulary]:
    """What `check` holds expressions against, from a run's tag definitions."""
    return {d.key: KeyVocabulary(d.value_type, frozenset(d.values)) for d in definitions}


def to_text(expression: Expression) -> str:
    """The expression written out again, fully parenthesised: `parse(to_text(e)) == e` up to
    positions."""
    match expression:
        case HasValue(key=key, values=(value,)):
            return f"{key}:{_quoted(value)}"
        case HasValue(key=key, values=values):
            return f"{key} IN ({', '.join(_quoted(v) for v in values)})"
        case HasKey(key=key):
            return key
        case Compare(key=key, op=op, number=number):
            return f"{key} {op} {number!r}"
        case Not(item=item):
            return f"NOT {to_text(item)}"
        case And(items=items) | Or(items=items):
            joiner = " AND " if isinstance(expression, And) else " OR "
            return "(" + joiner.join(to_text(item) for item in items) + ")"
    raise TypeError(f"not an expression: {expression!r}")


def _quoted(value: str) -> str:
    if _BARE_VALUE.fullmatch(value):
        return value
    return f"'{value}'" if '"' in value else f'"{value}"'


def check(expression: Expression, vocabulary: Mapping[str, KeyVocabulary], text: str) -> None:
    """Raise ExpressionError at the first term naming an unknown key or value."""
    for term in terms(expression):
        known = vocabulary.get(term.key)
        if known is None:
            hint = _closest(term.key, vocabulary)
            message = f"unknown tag key {term.key!r}{hint}"
            raise _error(text, term.position, message)
        if isinstance(term, HasValue):
            _check_values(term, known, text)


def _check_values(term: HasValue, known: KeyVocabulary, text: str) -> None:
    if known.value_type == "number":
        message = (
            f"{term.key} is a number: compare it (for example {term.key} >= 10) "
            "instead of matching a value"
        )
        raise _error(text, term.position, message)
    if not known.values:
        return
    for value in term.values:
        if value not in known.values:
            hint = _closest(value, known.values)
            message = f"unknown value {value!r} of tag key {term.key!r}{hint}"
            raise _error(text, term.position, message)


def _closest(word: str, known: Sequence[str] | Mapping[str, object] | frozenset[str]) -> str:
    closest = difflib.get_close_matches(word, sorted(known), n=CLOSEST, cutoff=0.5)
    return f"; did you mean {', '.join(closest)}?" if closest else ""


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)


class _ToExpression(Transformer_NonRecursive):
    """Lark's tree to the dataclasses; not recursive, so deep input cannot exhaust the stack."""

    def value(self, children: list[Token]) -> str:
        token = children[0]
        return token[1:-1] if token.type == "STRING" else str(token)

    def has_value(self, children: list[Token | str]) -> HasValue:
        return self.has_any(children)

    def has_any(self, children: list[Token | str]) -> HasValue:
        key, *values = children
        assert isinstance(key, Token)
        return HasValue(str(key), tuple(dict.fromkeys(str(v) for v in values)), _start(key))

    def has_key(self, children: list[Token]) -> HasKey:
        (key,) = children
        return HasKey(str(key), _start(key))

    def compare(self, children: list[Token]) -> Compare:
        key, op, number = children
        value = float(number)
        if not math.isfinite(value):
            raise _NotFinite(number)
        return Compare(str(key), op.value, value, _start(key))

    def negation(self, children: list[Expression]) -> Not:
        return Not(children[0])

    def and_(self, children: list[Expression]) -> And:
        return And(_flatten(children, And))

    def or_(self, children: list[Expression]) -> Or:
        return Or(_flatten(children, Or))


def _flatten(children: list[Expression], kind: type[And] | type[Or]) -> tuple[Expression, ...]:
    """`a AND (b AND c)` is one AND of three: shallower trees evaluate with fewer steps."""
    flat: list[Expression] = []
    for child in children:
        flat.extend(child.items if isinstance(child, kind) else (child,))
    return tuple(flat)


def _start(token: Token) -> int:
    return token.start_pos or 0


class _NotFinite(LarkError):
    def __init__(self, token: Token) -> None:
        super().__init__(f"{token} is not a finite number")
        self.token = token


def _check_nesting(text: str) -> None:
    """Refuse more than MAX_DEPTH open parentheses before parsing (hostile input stays cheap)."""
    depth, quote = 0, ""
    for position, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        depth += (char == "(") - (char == ")")
        if depth > MAX_DEPTH:
            message = f"parentheses nest deeper than {MAX_DEPTH} levels"
            raise _error(text, position, message)


def _check_depth(expression: Expression, text: str) -> None:
    """Refuse trees deeper than MAX_DEPTH (NOT NOT NOT ... nests without parentheses)."""
    stack: list[tuple[Expression, int]] = [(expression, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            position = next(terms(node)).position
            raise _error(text, position, f"the expression nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, And | Or):
            stack.extend((item, depth + 1) for item in node.items)
        elif isinstance(node, Not):
            stack.append((node.item, depth + 1))


def _position(error: UnexpectedInput, text: str) -> int:
    token = getattr(error, "token", None)
    if isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END"):
        return len(text)
    position = getattr(error, "pos_in_stream", None)
    return len(text) if position is None else int(position)


_EXPECTED = {
    "KEY": "a tag key",
    "VALUE": "a value",
    "STRING": "a quoted value",
    "NUMBER": "a number",
    "COMPARISON": "a comparison",
    "LPAR": "'('",
    "RPAR": "')'",
    "COLON": "':'",
    "COMMA": "','",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "_IN": "IN",
    "$END": "the end",
}


def _explain(error: UnexpectedInput) -> str:
    if isinstance(error, UnexpectedCharacters):
        return f"unexpected character {error.char!r}"
    expected = sorted({_EXPECTED.get(name, name) for name in getattr(error, "expected", ())})
    wanted = f"; expected {' or '.join(expected)}" if expected else ""
    if isinstance(error, UnexpectedEOF):
        return f"the expression ends too early{wanted}"
    token = getattr(error, "token", None)
    if token is None or token.type == "$END":
        return f"the expression ends too early{wanted}"
    return f"unexpected {str(token)!r}{wanted}"


def _error(text: str, position: int, message: str) -> ExpressionError:
    """The message, the text and a caret under the position, for a client to show as is."""
    position = max(0, min(position, len(text)))
    start = max(0, position - _SHOWN_AROUND)
    shown = text[start : position + _SHOWN_AROUND].replace("\n", " ").replace("\t", " ")
    caret = " " * (position - start) + "^"
    return ExpressionError(
        f"{message} (at position {position})\n{shown}\n{caret}", position=position
    )
