"""The report's numbers from a hand-made store, exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from api.counts import Disclosure
from api.report.counts import Count
from api.report.data import build_report
from api.report.personas import Share

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def exact(n: int) -> Count:
    return Count(n, n, n)


def test_the_lifecycle_distribution_lists_the_catalog_values_nobody_has(
    engine: Engine, shop_run: int
) -> None:
    with engine.connect() as connection:
        report = build_report(connection=connection, disclosure=Disclosure(True, 50, 0), now=NOW)

    assert report.run.id == shop_run
    assert report.distributions["lifecycle"] == [
        Share("active", exact(2), 0.5),
        Share("churn_risk", exact(1), 0.25),
        Share("new", exact(1), 0.25),
        Share("dormant", exact(0), 0.0),
        Share("lost", exact(0), 0.0),
        Share("reactivated", exact(0), 0.0),
    ]
    assert [(q.source, q.read, q.kept, q.dropped) for q in report.quality] == [
        ("users", 5, 4, [("duplicate_user_id", 1)]),
        ("events", 100, 88, [("bot", 7), ("duplicate_event_id", 3)]),
    ]


def test_an_operator_gets_every_small_count_as_its_range(engine: Engine, shop_run: int) -> None:
    with engine.connect() as connection:
        report = build_report(connection=connection, disclosure=Disclosure(False, 50, 0), now=NOW)

    # Four persons: every count is under 50, and leaves fewer than 50 outside it.
    hidden = Count(None, 0, 4)
    assert report.exact is False
    assert {s.value: (s.count, s.share) for s in report.distributions["lifecycle"]} == {
        value: (hidden, None)
        for value in ("active", "churn_risk", "new", "dormant", "lost", "reactivated")
    }
