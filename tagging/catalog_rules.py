"""Catalog rules: analysts' tags read from TOML, compiled to Ibis over the feature table.

A catalog rule adds a tag without code, over the feature table:

    [tags.bargain_hunter]
    kind = "psychographic"
    description = "Buys mostly with coupons or discounts"
    when = "discount_order_share >= 0.6 and orders >= 3"     # tags matching persons `:yes`

    [tags.recommended_channel]                                # or: first matching value wins
    kind = "channel"
    description = "Where to reach the person"
    values = [
      { value = "app_push", when = "frequency >= 5" },
      { value = "sms", when = "frequency < 5" },
    ]

`when` is a Python-style boolean expression: feature names, numbers, comparisons, `and`,
`or`, `not`, `+ - * /`, and `is_set(feature)`. It is parsed with Python's own `ast` and
compiled to an Ibis expression, never evaluated.
"""

from __future__ import annotations

import ast
import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir

from store.errors import InputError
from tagging.catalog import KEY_PATTERN, KINDS, TagDefinition


@dataclass(frozen=True)
class CatalogRule:
    definition: TagDefinition
    cases: tuple[tuple[str, str], ...]  # (value, when) in priority order


# Shipped catalog rules: every run has them; an analyst's catalog may redefine a key.
CHANNELS = """
[tags.recommended_channel]
kind = "channel"
description = '''
Where to reach the person, first match: app_push for high value (R, F, M >= 4); sms for new
buyers (first order within 30 days); email_winback after 120 days without an order;
coupon_sms for coupon buyers (half their orders or more); app_push for app users (half their
events or more); sms for the other buyers'''
values = [
  { value = "app_push", when = "r_score >= 4 and f_score >= 4 and m_score >= 4" },
  { value = "sms", when = "first_order_days <= 30" },
  { value = "email_winback", when = "recency_days > 120" },
  { value = "coupon_sms", when = "coupon_order_share >= 0.5" },
  { value = "app_push", when = "app_share >= 0.5" },
  { value = "sms", when = "is_set(frequency)" },
]
"""


def built_in_rules() -> list[CatalogRule]:
    """The catalog rules every run applies (recommended_channel)."""
    return parse_rules(CHANNELS, Path("built-in channels"))


def with_analyst_rules(shipped: list[CatalogRule], own: list[CatalogRule]) -> list[CatalogRule]:
    """The shipped rules, except the keys the analyst's catalog defines, then the analyst's."""
    mine = {rule.definition.key for rule in own}
    return [rule for rule in shipped if rule.definition.key not in mine] + own


def load_rules(path: Path) -> list[CatalogRule]:
    """Read a catalog TOML file; errors name the file and the tag at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot read the catalog ({error})") from error
    return parse_rules(text, path)


def parse_rules(text: str, path: Path) -> list[CatalogRule]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: cannot read the catalog ({error})") from error
    tags = document.get("tags", {})
    if not isinstance(tags, dict):
        raise InputError(f"{path}: [tags] must be a table of tag definitions")
    return [_rule(path, key, spec) for key, spec in tags.items()]


def _rule(path: Path, key: str, spec: Any) -> CatalogRule:
    where = f"{path}: tag {key!r}"
    if not isinstance(spec, dict):
        raise InputError(f"{where} must be a table")
    if not KEY_PATTERN.match(key):
        raise InputError(f"{where}: keys are snake_case (a-z, 0-9, _)")
    kind = spec.get("kind", "custom")
    if kind not in KINDS:
        raise InputError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if "when" in spec:
        cases: tuple[tuple[str, str], ...] = (("yes", str(spec["when"])),)
    elif isinstance(spec.get("values"), list):
        cases = tuple((str(c.get("value", "")), str(c.get("when", ""))) for c in spec["values"])
    else:
        raise InputError(f'{where}: needs `when = "..."` or `values = [{{value, when}}, ...]`')
    for value, when in cases:
        if not KEY_PATTERN.match(value) or not when:
            raise InputError(f"{where}: each case needs a snake_case value and a `when`")
    definition = TagDefinition(
        key,
        kind,
        " ".join(str(spec.get("description", "")).split()),  # TOML may wrap it
        "flag" if len(cases) == 1 and cases[0][0] == "yes" else "category",
        tuple(dict.fromkeys(v for v, _ in cases)),  # a value may have several cases
        source="catalog",
    )
    return CatalogRule(definition, cases)


def compile_when(when: str, features: ir.Table, *, where: str) -> ir.BooleanValue:
    """A rule's `when` as a boolean Ibis expression over the feature table."""
    try:
        tree = ast.parse(when, mode="eval")
    except SyntaxError as error:
        raise InputError(
            f"{where}: `when` does not parse at column {error.offset}: {when!r}"
        ) from error
    result = _Compiler(features, where).visit(tree.body)
    if not isinstance(result, ir.BooleanValue):
        raise InputError(f"{where}: `when` must be a condition, got {when!r}")
    return result


class _Compiler(ast.NodeVisitor):
    COMPARE: ClassVar[dict[type, Any]] = {
        ast.Lt: lambda a, b: a < b,
        ast.LtE: lambda a, b: a <= b,
        ast.Gt: lambda a, b: a > b,
        ast.GtE: lambda a, b: a >= b,
        ast.Eq: lambda a, b: a == b,
        ast.NotEq: lambda a, b: a != b,
    }
    ARITHMETIC: ClassVar[dict[type, Any]] = {
        ast.Add: lambda a, b: a + b,
        ast.Sub: lambda a, b: a - b,
        ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b,
    }

    def __init__(self, features: ir.Table, where: str) -> None:
        self.features = features
        self.where = where

    def generic_visit(self, node: ast.AST) -> Any:
        raise InputError(f"{self.where}: `{ast.unparse(node)}` is not allowed in `when`")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id not in self.features.columns:
            close = difflib.get_close_matches(node.id, self.features.columns, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"{self.where}: unknown feature {node.id!r}{hint}")
        return self.features[node.id]

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise InputError(f"{self.where}: only numbers may be constants, not {node.value!r}")
        return ibis.literal(node.value)

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(v) for v in node.values]
        combined = values[0]
        for value in values[1:]:
            combined = combined & value if isinstance(node.op, ast.And) else combined | value
        return combined

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return ~operand
        if isinstance(node.op, ast.USub):
            return -operand
        return self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        operation = self.ARITHMETIC.get(type(node.op))
        if operation is None:
            return self.generic_visit(node)
        return operation(self.visit(node.left), self.visit(node.right))

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        result = None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            operation = self.COMPARE.get(type(op))
            if operation is None:
                return self.generic_visit(node)
            right = self.visit(right_node)
            term = operation(left, right)
            result = term if result is None else result & term
            left = right
        return result

    def visit_Call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id == "is_set" and len(node.args) == 1:
            return self.visit(node.args[0]).notnull()
        return self.generic_visit(node)
