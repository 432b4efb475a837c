"""The tag expression language: what parses to what, and every way it refuses input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.audiences.expressions import (
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Compare,
    HasKey,
    HasValue,
    KeyVocabulary,
    Not,
    Or,
    check,
    parse,
    to_text,
)
from store.errors import ExpressionError

VOCABULARY = {
    "rfm_segment": KeyVocabulary("category", frozenset({"high_value", "loyal", "at_risk"})),
    "lifecycle": KeyVocabulary("category", frozenset({"active", "churn_risk", "lost"})),
    "preferred_category": KeyVocabulary("category", frozenset()),
    "monetary": KeyVocabulary("number", frozenset()),
}


def _error(text: str) -> ExpressionError:
    with pytest.raises(ExpressionError) as raised:
        parse(text)
    return raised.value


def test_the_design_example_parses_to_an_and_of_three():
    text = (
        "rfm_segment:high_value AND preferred_category IN (baby, outdoor) "
        "AND NOT lifecycle:churn_risk"
    )
    assert parse(text) == And(
        (
            HasValue("rfm_segment", ("high_value",), 0),
            HasValue("preferred_category", ("baby", "outdoor"), 0),
            Not(HasValue("lifecycle", ("churn_risk",), 0)),
        )
    )


def test_and_binds_tighter_than_or_and_not_tighter_than_and():
    assert parse("a OR b AND NOT c") == Or(
        (HasKey("a", 0), And((HasKey("b", 0), Not(HasKey("c", 0)))))
    )
    assert parse("(a OR b) AND c") == And((Or((HasKey("a", 0), HasKey("b", 0))), HasKey("c", 0)))


def test_keywords_in_any_case_and_words_that_start_with_them_are_keys():
    assert parse("android and NOT notable Or inx In (x)") == Or(
        (
            And((HasKey("android", 0), Not(HasKey("notable", 0)))),
            HasValue("inx", ("x",), 0),
        )
    )


def test_comparisons_carry_the_operator_and_the_number():
    assert parse("monetary > 500") == Compare("monetary", ">", 500.0, 0)
    assert parse("churn_risk>=0.7") == Compare("churn_risk", ">=", 0.7, 0)
    assert parse("x != -1.5e2") == Compare("x", "!=", -150.0, 0)
    assert [parse(f"x {op} 1").op for op in ("<", "<=", ">", ">=", "=", "!=")] == [  # type: ignore[union-attr]
        "<",
        "<=",
        ">",
        ">=",
        "=",
        "!=",
    ]


def test_quoted_values_unicode_and_repeated_values():
    assert parse('city:"New York"') == HasValue("city", ("New York",), 0)
    assert parse("分类:母婴") == HasValue("分类", ("母婴",), 0)
    assert parse("age_band IN (18_24, 25_34, 18_24)") == HasValue("age_band", ("18_24", "25_34"), 0)


def test_nested_ands_flatten_and_positions_point_at_the_key():
    expression = parse("a:1 AND (b:2 AND  c:3)")
    assert expression == And(
        (HasValue("a", ("1",), 0), HasValue("b", ("2",), 0), HasValue("c", ("3",), 0))
    )
    assert isinstance(expression, And)
    assert [item.position for item in expression.items] == [0, 9, 18]  # type: ignore[union-attr]


def test_to_text_parses_back_to_the_same_expression():
    text = 'a:1 and (b or not c:"x y") and d in (p, q) and m >= 5 or n < -0.25'
    expression = parse(text)
    assert to_text(expression) == (
        '((a:1 AND (b OR NOT c:"x y") AND d IN (p, q) AND m >= 5.0) OR n < -0.25)'
    )
    assert parse(to_text(expression)) == expression


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("", 0, "the expression is empty"),
        ("a AND", 5, "the expression ends too early; expected '(' or NOT or a tag key"),
        ("a b", 2, "unexpected 'b'"),
        ("a:", 2, "the expression ends too early; expected a quoted value or a value"),
        ("x:1)", 3, "unexpected ')'; expected the end"),
        ("(a", 2, "the expression ends too early; expected ')'"),
        ("a IN ()", 6, "unexpected ')'; expected a quoted value or a value"),
        ("a:1 ORb", 4, "unexpected 'ORb'"),
        ("x > 1e999", 4, "1e999 is not a finite number"),
        ("gender:female $", 14, "unexpected character '$'"),
        ('city:"New York', 5, "unexpected character '\"'"),
    ],
)
def test_errors_name_the_position_and_draw_a_caret(text: str, position: int, message: str):
    error = _error(text)
    assert error.position == position
    first, shown, caret = str(error).split("\n")
    assert first.startswith(message)
    assert first.endswith(f"(at position {position})")
    assert shown == text
    assert caret == " " * position + "^"


def test_long_lines_are_shown_around_the_position():
    text = "a:1 AND " * 40 + "$"
    error = _error(text)
    assert error.position == len(text) - 1
    _, shown, caret = str(error).split("\n")
    assert shown == text[-61:]
    assert caret == " " * 60 + "^"


def test_hostile_input_is_refused_before_parsing():
    assert _error("(" * 10_000).position == MAX_LENGTH
    assert str(_error("(" * 40 + "a" + ")" * 40)).startswith(
        f"parentheses nest deeper than {MAX_DEPTH} levels"
    )
    assert _error("(" * 40 + "a" + ")" * 40).position == MAX_DEPTH
    deep = "NOT " * 40 + "a"
    error = _error(deep)
    assert str(error).startswith(f"the expression nests deeper than {MAX_DEPTH} levels")
    assert error.position == len(deep) - 1


def test_parentheses_inside_quotes_do_not_count_as_nesting():
    text = 'note:"' + "(" * 40 + '"'
    assert parse(text) == HasValue("note", ("(" * 40,), 0)


def test_at_most_the_depth_limit_parses():
    text = "(" * (MAX_DEPTH - 1) + "a" + ")" * (MAX_DEPTH - 1)
    assert parse(text) == HasKey("a", 0)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_raises_nothing_but_expression_error(text: str):
    try:
        parse(text)
    except ExpressionError as error:
        assert error.position is not None
        assert 0 <= error.position <= len(text)


_PIECES = st.sampled_from(
    ["a", "b:1", " AND ", " OR ", "NOT ", "(", ")", " IN ", ",", ":", ">=", "5", '"q"', " "]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_near_miss_expressions_raise_nothing_but_expression_error(text: str):
    try:
        expression = parse(text)
    except ExpressionError:
        return
    assert parse(to_text(expression)) == expression


def _check_error(text: str) -> str:
    with pytest.raises(ExpressionError) as raised:
        check(parse(text), VOCABULARY, text)
    return str(raised.value).split("\n")[0]


def test_unknown_keys_and_values_name_the_closest_known_ones():
    assert _check_error("rfm_segmnt:loyal") == (
        "unknown tag key 'rfm_segmnt'; did you mean rfm_segment? (at position 0)"
    )
    assert _check_error("lifecycle:active AND rfm_segment IN (loyal, high_valu)") == (
        "unknown value 'high_valu' of tag key 'rfm_segment'; did you mean high_value? "
        "(at position 21)"
    )
    assert _check_error("zzz") == "unknown tag key 'zzz' (at position 0)"


def test_number_keys_are_compared_not_matched():
    assert _check_error("monetary:500") == (
        "monetary is a number: compare it (for example monetary >= 10) instead of matching "
        "a value (at position 0)"
    )
    assert _unchecked("monetary >= 500 AND monetary") == []
    assert _unchecked("monetary >= 500 AND monetary:1") == [
        "monetary is a number: compare it (for example monetary >= 10) instead of matching "
        "a value (at position 20)"
    ]


def test_open_keys_take_any_value_and_closed_ones_only_theirs():
    assert _unchecked("preferred_category:anything AND preferred_category:母婴") == []
    assert _unchecked("preferred_category:anything AND lifecycle:anything") == [
        "unknown value 'anything' of tag key 'lifecycle' (at position 32)"
    ]


def _unchecked(text: str) -> list[str]:
    """The first line of `check`'s error for `text`, in a list; [] when it passes."""
    try:
        check(parse(text), VOCABULARY, text)
    except ExpressionError as error:
        return [str(error).split("\n")[0]]
    return []
