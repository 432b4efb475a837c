"""The stored bitmaps select (and diff) the same persons as a plain Python reading of the tags.

Hypothesis draws two runs (persons with multi-valued, scored, unscored, flag and number keys)
and expressions over their vocabulary; each expression is written out as text and parsed back,
so the parser is in the loop too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.audiences.expressions import (
    MAX_DEPTH,
    And,
    Compare,
    Expression,
    HasKey,
    HasValue,
    KeyVocabulary,
    Not,
    Or,
    check,
    parse,
    to_text,
)
from store.audiences.index import audience_diff, load_index, members_page
from store.audiences.person_expressions import compiled, holds
from store.audiences.selection import BitmapSelection
from store.errors import ExpressionError
from store.models import Profile, table_of
from store.profiles import reads as profile_reads
from store.snapshot.write import Snapshot, begin_run, commit_snapshot

_profiles = table_of(Profile)

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)
SCORES = [-3.0, 0.0, 0.25, 0.5, 1.0, 10.0, 99.99]
NUMBERS = [*SCORES, -10.0, 0.3, 5.0, 100.0]
KEYS = {  # key -> (value type, values, scores drawn from)
    "color": ("category", ["red", "green", "blue"], [None, *SCORES]),
    "size": ("category", ["s", "m", "l"], [None]),
    "vip": ("flag", ["yes"], [None, 0.5, 1.0]),
    "affinity": ("category", ["x", "y", "z"], SCORES),
    "spend": ("number", [], SCORES),
}
SINGLE_VALUED = {"size", "vip", "spend"}
VOCABULARY = {
    key: KeyVocabulary(value_type, frozenset(values))
    for key, (value_type, values, _) in KEYS.items()
}


@dataclass(frozen=True)
class TagRow:
    person_idx: int
    key: str
    value: str
    score: float | None


@st.composite
def stores(draw: st.DrawFn) -> tuple[int, list[TagRow]]:
    persons = draw(st.integers(1, 25))
    rows: list[TagRow] = []
    for person in range(persons):
        for key, (_, values, scores) in KEYS.items():
            if key == "spend":
                chosen = [draw(st.sampled_from(["", *map(str, SCORES)]))][:1]
                chosen = [v for v in chosen if v]
            elif key in SINGLE_VALUED:
                chosen = draw(st.lists(st.sampled_from(values), max_size=1))
            else:
                chosen = draw(st.lists(st.sampled_from(values), max_size=3, unique=True))
            for value in chosen:
                score = float(value) if key == "spend" else draw(st.sampled_from(scores))
                rows.append(TagRow(person, key, value, score))
    return persons, rows


def _terms() -> st.SearchStrategy[Expression]:
    category_keys = [k for k, (t, _, _) in KEYS.items() if t != "number"]
    has_value = st.sampled_from(category_keys).flatmap(
        lambda key: st.lists(
            st.sampled_from(KEYS[key][1]), min_size=1, max_size=3, unique=True
        ).map(lambda values: HasValue(key, tuple(values), 0))
    )
    has_key = st.sampled_from(list(KEYS)).map(lambda key: HasKey(key, 0))
    compare = st.builds(
        lambda key, op, number: Compare(key, op, number, 0),
        st.sampled_from(list(KEYS)),
        st.sampled_from(["<", "<=", ">", ">=", "=", "!="]),
        st.sampled_from(NUMBERS),
    )
    return st.one_of(has_value, has_key, compare)


expressions = st.recursive(
    _terms(),
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=4).map(lambda items: And(tuple(items))),
        st.lists(inner, min_size=2, max_size=4).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


def reference(expression: Expression, persons: set[int], rows: list[TagRow]) -> set[int]:
    """What the expression means, read straight off each person's tag rows."""
    tags: dict[int, dict[str, list[tuple[str, float | None]]]] = {p: {} for p in persons}
    for r in rows:
        tags.setdefault(r.person_idx, {}).setdefault(r.key, []).append((r.value, r.score))
    return {person for person in persons if holds(expression, tags[person])}


def _commit(engine: Engine, persons: list[str], rows: list[TagRow]) -> int:
    """A run of the persons named (`person_idx` i is persons[i]) with these tag rows."""
    run_id = begin_run(engine=engine, source="hypothesis", as_of=AS_OF, params={})
    snapshot = Snapshot(
        persons=pd.DataFrame(
            {
                "person_idx": range(len(persons)),
                "person_id": persons,
                "attributes": [{}] * len(persons),
            }
        ),
        identifiers=pd.DataFrame(
            {
                "kind": ["user_id"] * len(persons),
                "identifier": persons,
                "person_idx": range(len(persons)),
            }
        ),
        tags=pd.DataFrame(
            {
                "person_idx": [r.person_idx for r in rows],
                "key": [r.key for r in rows],
                "value": [r.value for r in rows],
                "score": pd.array([r.score for r in rows], dtype="Float64"),
            }
        ),
        features=pd.DataFrame({"person_idx": [], "values": []}),
        definitions=[
            {
                "key": key,
                "kind": "behavioural",
                "description": key,
                "source": "built_in",
                "value_type": value_type,
                "values": values,
            }
            for key, (value_type, values, _) in KEYS.items()
        ],
        quarantine=pd.DataFrame({"source": [], "row_number": [], "reason": [], "raw": []}),
        as_of=AS_OF,
    )
    commit_snapshot(engine=engine, run_id=run_id, snapshot=snapshot)
    return run_id


def _from_profiles(engine: Engine, run_id: int) -> tuple[dict[int, str], list[TagRow]]:
    """A run's persons (number -> person_id) and tags, read back from its profile rows."""
    with engine.connect() as connection:
        numbers = connection.execute(
            select(_profiles.c.person_idx, _profiles.c.person_id).where(
                _profiles.c.run_id == run_id
            )
        ).all()
        tags = profile_reads.tags_of_persons(
            connection=connection, run_id=run_id, person_idxs=[n for n, _ in numbers]
        )
    return dict(numbers), [TagRow(t.person_idx, t.key, t.value, t.score) for t in tags]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=stores(),
    after=stores(),
    # NOT adds a level without a leaf: keep to what the grammar accepts.
    drawn=st.lists(expressions.filter(lambda e: _depth(e) <= MAX_DEPTH), min_size=1, max_size=4),
)
def test_stored_bitmaps_select_and_diff_as_a_reading_of_each_runs_profiles(
    store_engine: Engine,
    before: tuple[int, list[TagRow]],
    after: tuple[int, list[TagRow]],
    drawn: list[Expression],
):
    """Two runs whose persons overlap (p0, p1, ... in each): every expression's persons,
    pages, breakdowns, and who entered and left between the runs, from the stored bitmaps,
    equal a plain evaluation of the tags each run's profile rows hold, and of the tags drawn."""
    runs = []
    for size, rows in (before, after):
        persons = [f"p{i}" for i in range(size)]
        run_id = _commit(store_engine, persons, rows)
        numbers, profile_rows = _from_profiles(store_engine, run_id)
        # The profiles hold exactly the rows drawn, under each person's number.
        number_of = {person_id: n for n, person_id in numbers.items()}
        drawn_rows = {(number_of[persons[r.person_idx]], r.key, r.value, r.score) for r in rows}
        assert set(profile_rows) == {TagRow(*row) for row in drawn_rows}
        with store_engine.connect() as connection:
            index = load_index(connection=connection, run_id=run_id)
        runs.append((index, numbers, profile_rows))
    # A person keeps their number: p3 of the first run is p3 of the second.
    shared = set(runs[0][1].values()) & set(runs[1][1].values())
    assert {p: n for n, p in runs[0][1].items() if p in shared} == {
        p: n for n, p in runs[1][1].items() if p in shared
    }
    for drawn_expression in drawn:
        text = to_text(drawn_expression)
        expression = parse(text)
        check(expression, VOCABULARY, text)
        selected = []
        for index, numbers, profile_rows in runs:
            expected = reference(expression, set(numbers), profile_rows)
            bitmap = index.evaluate(expression)
            assert set(bitmap) == expected, text
            ordered = sorted(expected)
            middle = ordered[len(ordered) // 2] if ordered else None
            page = [p for p in ordered if middle is None or p > middle][:3]
            assert members_page(bitmap, after=middle, first=3) == page, text
            assert BitmapSelection(index, expression).everyone().tolist() == ordered, text
            for key in KEYS:  # the number key included: no breakdown lists its amounts
                assert index.breakdown(bitmap, key) == _breakdown(expected, profile_rows, key)
            selected.append({numbers[n] for n in expected})
        diff = audience_diff(runs[0][0], runs[1][0], expression)
        entered, left = selected[1] - selected[0], selected[0] - selected[1]
        assert {runs[1][1][n] for n in diff.entered} == entered, text
        assert {runs[0][1][n] for n in diff.left} == left, text
        assert diff.stayed == len(selected[0] & selected[1]), text


def _breakdown(audience: set[int], rows: list[TagRow], key: str) -> list[tuple[str, int]]:
    if KEYS[key][0] == "number":
        return []
    counts: dict[str, int] = {}
    for r in rows:
        if r.key == key and r.person_idx in audience:
            counts[r.value] = counts.get(r.value, 0) + 1
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def _depth(expression: Expression) -> int:
    match expression:
        case Not(item=item):
            return 1 + _depth(item)
        case And(items=items) | Or(items=items):
            return 1 + max(_depth(item) for item in items)
    return 1


def _deepest(shape: str) -> str:
    """An expression of `shape`, NOTs in front until it is exactly MAX_DEPTH levels deep."""
    text = {
        "not": "color:red",
        "not_or": "NOT (size:s OR " * 4 + "color:red" + ")" * 4,  # two levels each
        "or_and": "(size:s OR (vip AND " * 4 + "color:red" + "))" * 4,
    }[shape]
    while _depth(parse(text)) < MAX_DEPTH:
        text = "NOT " + text
    return text


@pytest.mark.parametrize("shape", ["not", "not_or", "or_and"])
def test_the_deepest_expressions_allowed_are_answered(store_engine: Engine, shape: str) -> None:
    rows = [
        TagRow(0, "color", "red", None),
        TagRow(1, "size", "s", None),
        TagRow(2, "vip", "yes", None),
    ]
    run_id = _commit(store_engine, ["a", "b", "c", "d"], rows)
    text = _deepest(shape)
    expression = parse(text)
    assert _depth(expression) == MAX_DEPTH
    check(expression, VOCABULARY, text)
    numbers, profile_rows = _from_profiles(store_engine, run_id)
    expected = reference(expression, set(numbers), profile_rows)
    assert {numbers[n] for n in expected} == {
        "abcd"[i] for i in reference(expression, {0, 1, 2, 3}, rows)
    }
    with store_engine.connect() as connection:
        index = load_index(connection=connection, run_id=run_id)
        assert set(index.evaluate(expression)) == expected
    with pytest.raises(ExpressionError, match=f"nests deeper than {MAX_DEPTH} levels"):
        parse("NOT " + text)


@settings(max_examples=300, deadline=None)
@given(store=stores(), drawn=expressions)
def test_a_compiled_expression_holds_for_the_persons_it_holds_for(
    store: tuple[int, list[TagRow]], drawn: Expression
) -> None:
    """The live path's compiled test of a saved audience answers as `holds` for every person."""
    persons, rows = store
    tags: dict[int, dict[str, list[tuple[str, float | None]]]] = {p: {} for p in range(persons)}
    for r in rows:
        tags[r.person_idx].setdefault(r.key, []).append((r.value, r.score))
    test = compiled(drawn)
    everyone = range(persons)
    assert [test(tags[p]) for p in everyone] == [holds(drawn, tags[p]) for p in everyone]
