"""The persons only the live path has on a run (created live since it): found by person id or
by identifier from their live rows, never a person the run has a profile of."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Engine

from store.live import profiles as live_profiles
from store.live.profiles import LivePerson, LiveRow
from tests.factories import commit_shop

AT = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
DAY = date(2026, 7, 1)
NEW = {"lifecycle": [("new", None)], "frequency": [("1", 1.0)]}


def _shown(found: list[LivePerson]) -> list[tuple[str, str, int, int, Any]]:
    return [(p.identifier, p.person_id, p.row.person_idx, p.row.run_id, p.row.tags) for p in found]


def test_only_persons_with_a_live_row_and_no_profile_in_the_run_are_live_only(
    engine: Engine,
) -> None:
    run_id = commit_shop(engine)
    with engine.begin() as connection:
        given = live_profiles.register(
            connection=connection,
            run_id=run_id,
            new_persons=[("user_id", "zoe", "p-zoe"), ("user_id", "yan", "p-yan")],
            links=[],
        )
        zoe = given[("user_id", "zoe")]
        ann = live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=["u-1001"]
        )["u-1001"]
        # Zoe and Ann (a run person) have live rows; Yan was registered, never tagged.
        live_profiles.write(
            connection=connection,
            rows=[LiveRow(n, run_id, DAY, {"frequency": 1}, NEW, AT) for n in (zoe, ann)],
        )
    with engine.connect() as connection:
        by_person_id = live_profiles.live_only_by_person_id(
            connection=connection, run_id=run_id, person_ids=["p-ann", "p-yan", "p-zoe", "p-zoe"]
        )
        by_user_id = live_profiles.live_only_by_identifier(
            connection=connection,
            run_id=run_id,
            kind="user_id",
            identifiers=["u-1001", "yan", "zoe"],
        )
        on_another_run = live_profiles.live_only_by_person_id(
            connection=connection, run_id=run_id + 1, person_ids=["p-zoe"]
        )

    assert _shown(by_person_id) == [("p-zoe", "p-zoe", zoe, run_id, NEW)]
    assert _shown(by_user_id) == [("zoe", "p-zoe", zoe, run_id, NEW)]
    assert on_another_run == []
