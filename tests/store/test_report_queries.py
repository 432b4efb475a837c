"""The persona report's reads: counts crossed with another key, exact on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from store import report as report_queries
from store.audiences.expressions import parse
from store.report import CrossCount, RfmCell, ScoreBin
from tests.factories import PersonSpec, commit_run


def person(name: str, *tags: tuple[str, str, float | None]) -> PersonSpec:
    return PersonSpec(person_id=f"p-{name}", tags=list(tags))


# Two personas: a has three persons, b one; e is in none (a prospect).
PERSONS = [
    person(
        "a1",
        ("persona", "a", None),
        ("rfm_segment", "loyal", None),
        ("preferred_category", "baby", 0.6),
        ("preferred_category", "toys", 0.4),
        ("churn_risk", "low", 0.05),
        ("rfm_r", "5", 5.0),
        ("rfm_f", "4", 4.0),
        ("monetary", "900.0", 900.0),
    ),
    person(
        "a2",
        ("persona", "a", None),
        ("rfm_segment", "loyal", None),
        ("preferred_category", "baby", 1.0),
        ("churn_risk", "low", 0.1),
        ("rfm_r", "5", 5.0),
        ("rfm_f", "4", 4.0),
        ("monetary", "300.0", 300.0),
    ),
    person(
        "a3",
        ("persona", "a", None),
        ("rfm_segment", "at_risk", None),
        ("churn_risk", "high", 1.0),
        ("rfm_r", "1", 1.0),
        ("rfm_f", "4", 4.0),
    ),
    person(
        "b1",
        ("persona", "b", None),
        ("rfm_segment", "loyal", None),
        ("preferred_category", "toys", 1.0),
        ("churn_risk", "mid", 0.55),
        ("rfm_r", "1", 1.0),
        ("rfm_f", "1", 1.0),
        ("monetary", "50.0", 50.0),
    ),
    person("e1", ("rfm_segment", "new", None), ("churn_risk", "low", 0.0)),
]


@pytest.fixture
def run_id(engine: Engine) -> int:
    return commit_run(engine, PERSONS)


def test_values_of_other_keys_are_counted_per_value_of_the_crossing_key(
    engine: Engine, run_id: int
) -> None:
    with engine.connect() as connection:
        found = report_queries.cross_counts(
            connection=connection,
            run_id=run_id,
            by_key="persona",
            keys=["rfm_segment", "preferred_category"],
        )

    assert found == [
        CrossCount("a", "preferred_category", "baby", 2),
        CrossCount("a", "preferred_category", "toys", 1),
        CrossCount("a", "rfm_segment", "loyal", 2),
        CrossCount("a", "rfm_segment", "at_risk", 1),
        CrossCount("b", "preferred_category", "toys", 1),
        CrossCount("b", "rfm_segment", "loyal", 1),
    ]


def test_scores_fall_in_equal_bins_with_one_in_the_last(engine: Engine, run_id: int) -> None:
    with engine.connect() as connection:
        found = report_queries.score_bins(
            connection=connection, run_id=run_id, by_key="persona", keys=["churn_risk"], bins=10
        )

    assert found == [
        ScoreBin("a", "churn_risk", 0, 1),  # 0.05
        ScoreBin("a", "churn_risk", 1, 1),  # 0.1 starts the second bin
        ScoreBin("a", "churn_risk", 9, 1),  # 1.0
        ScoreBin("b", "churn_risk", 5, 1),  # 0.55
    ]


def test_the_rfm_grid_counts_r_against_f_with_the_mean_monetary(
    engine: Engine, run_id: int
) -> None:
    with engine.connect() as connection:
        found = report_queries.rfm_grid(connection=connection, run_id=run_id)

    assert found == [
        RfmCell("1", "1", 1, 50.0),
        RfmCell("1", "4", 1, None),  # a3 has no monetary tag
        RfmCell("5", "4", 2, 600.0),
    ]


def test_an_audience_reads_as_one_array_of_its_persons(engine: Engine, run_id: int) -> None:
    with engine.connect() as connection:
        found = report_queries.audience_members(
            connection=connection,
            run_id=run_id,
            expression=parse("rfm_segment:loyal AND NOT persona:b"),
        )

    assert found.tolist() == [0, 1]  # a1 and a2, in person order
