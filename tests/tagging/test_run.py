"""Whole runs: orders-only shops, as_of, and runs that fail or are killed mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from store.audiences.saved import save, sizes
from store.basket import report as run_report
from store.catalog import tag_definitions
from store.models import Profile, TagBitmap
from store.profiles.export import export_tags
from store.runs.reads import current_run, last_runs
from store.snapshot import bulk
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

LIFECYCLE_ORDERS = """
order_id,user_id,ts,amount,channel
a1,new,2026-06-20T10:00:00Z,10,app
b1,back,2026-01-01T10:00:00Z,10,app
b2,back,2026-06-25T10:00:00Z,10,app
c1,steady,2026-04-01T10:00:00Z,10,web
c2,steady,2026-05-15T20:00:00Z,10,web
d1,fading,2026-03-01T10:00:00Z,10,web
d2,fading,2026-03-15T10:00:00Z,10,web
e1,asleep,2025-12-01T10:00:00Z,10,app
e2,asleep,2026-01-15T10:00:00Z,10,app
f1,gone,2025-06-01T10:00:00Z,10,app
g1,later,2026-07-02T10:00:00Z,10,app
"""
AS_OF = date(2026, 6, 30)


def _tags_by_user(engine: Engine, run_id: int, key: str) -> dict[str, str]:
    tags = export_tags(engine=engine, run_id=run_id)
    rows = tags[tags.key == key]
    return dict(zip(rows.user_id, rows.value, strict=True))


def test_orders_only_shop_gets_rfm_lifecycle_and_order_habits(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    assert result.as_of == datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert _tags_by_user(engine, result.run_id, "lifecycle") == {
        "new": "new",
        "back": "reactivated",
        "steady": "active",
        "fading": "churn_risk",
        "asleep": "dormant",
        "gone": "lost",
    }
    assert _tags_by_user(engine, result.run_id, "primary_channel") == {
        "new": "app",
        "back": "app",
        "steady": "web",
        "fading": "web",
        "asleep": "app",
        "gone": "app",
    }
    slots = _tags_by_user(engine, result.run_id, "purchase_time_slot")
    assert slots["new"] == "morning"
    keys = set(export_tags(engine=engine, run_id=result.run_id).key)
    assert keys == {
        "rfm_r",
        "rfm_f",
        "rfm_m",
        "rfm_segment",
        "recency_days",
        "frequency",
        "monetary",
        "lifecycle",
        "aov_band",
        "purchase_time_slot",
        "primary_channel",
        "price_sensitivity",
        "promo_affinity",
        "value_segment",
        "recommended_channel",
    }


def test_the_profile_report_splits_each_stage_into_its_pieces(shop_dir, engine: Engine) -> None:
    """The run's "profile" report: each stage's materialised tables and named pieces, and the
    rest of the stage as "other", adding up to the stage's seconds; stored with the run."""
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    with engine.connect() as connection:
        stored = run_report(connection=connection, run_id=result.run_id, section="profile")
    assert stored is not None
    profile = stored["seconds"]
    assert list(profile) == [stage for stage in result.timings if stage != "write"]
    assert set(profile["ingest"]) == {"read orders", "other"}
    assert {"marks_orders", "clean_orders", "quality report", "other"} <= set(profile["clean"])
    assert "text of quarantined orders" in profile["clean"]
    assert {"features", "live shopping file", "models' frames", "other"} <= set(profile["features"])
    assert {"mining item rules", "mining category rules", "recommendations"} <= set(
        profile["basket"]
    )
    assert set(profile["tags"]) == {"tags_base", "other"}
    for stage, steps in profile.items():
        assert min(steps.values()) >= 0, stage
        # Each piece rounded to the millisecond: the sum is the stage's within their rounding.
        assert sum(steps.values()) == pytest.approx(
            result.timings[stage], abs=0.0005 * len(steps) + 0.001
        ), stage


def test_as_of_ignores_everything_after_the_day(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    early = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=date(2026, 3, 1)))
    late = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    assert early.quality["orders"]["after_as_of"] == 6  # a1 b2 c1 c2 d2 g1 fall after 2026-03-01
    assert early.persons == 4  # back, fading, asleep, gone; the others order later
    assert _tags_by_user(engine, early.run_id, "recency_days")["fading"] == "0"  # d1 that day
    assert late.as_of == datetime(2026, 7, 2, 10, 0, tzinfo=UTC)  # latest order in the data
    assert late.quality["orders"]["after_as_of"] == 0


def test_same_files_and_as_of_give_the_same_tags(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    first = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    second = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    a = export_tags(engine=engine, run_id=first.run_id)
    b = export_tags(engine=engine, run_id=second.run_id)
    assert a.equals(b)


def test_failure_mid_write_leaves_previous_run_current(
    shop_dir, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    previous = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    real_insert = bulk.insert_rows

    def failing_insert(conn, table, run_id, frame):  # type: ignore[no-untyped-def]
        if table.name == "profiles":
            raise OSError("disk full")
        real_insert(conn, table, run_id, frame)

    monkeypatch.setattr(bulk, "insert_rows", failing_insert)
    with pytest.raises(OSError, match="disk full"):
        run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    with Session(engine) as session:
        current = current_run(connection=session.connection())
        failed = last_runs(connection=session.connection(), last=1)[0]
        persons_of_failed = session.exec(select(Profile).where(Profile.run_id == failed.id)).all()
    assert current is not None and current.id == previous.run_id
    assert (failed.status, failed.error) == ("failed", "OSError: disk full")
    assert persons_of_failed == []  # the persons written before the failure were rolled back


KILLED_RUN = """
import sys, time
from pathlib import Path
from store.snapshot import bulk
from store.db import make_engine
from tagging.run import RunOptions, run_tagging

real_insert = bulk.insert_rows
def slow_insert(conn, table, run_id, frame):
    real_insert(conn, table, run_id, frame)
    if table.name == "profiles":
        Path(sys.argv[3]).write_text("profiles written")
        time.sleep(60)

bulk.insert_rows = slow_insert
engine = make_engine(sys.argv[1])
run_tagging(engine=engine, options=RunOptions(Path(sys.argv[2]), "test-id-key-0123456789"))
"""


def test_killed_run_leaves_previous_run_serving_and_store_intact(
    tmp_path: Path, shop_dir, engine: Engine
) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    previous = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    url = str(engine.url)
    marker = tmp_path / "marker"
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, url, str(folder), str(marker)],
        cwd=Path(__file__).parents[2],
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the run never reached its write"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    with Session(engine) as session:
        current = current_run(connection=session.connection())
        killed = last_runs(connection=session.connection(), last=1)[0]
        orphans = session.exec(select(TagBitmap).where(TagBitmap.run_id == killed.id)).all()
    assert current is not None and current.id == previous.run_id
    assert killed.status == "running" and orphans == []
    database = engine.url.database
    assert database is not None
    with sqlite3.connect(database) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert raw.execute(
            "SELECT count(*) FROM profiles WHERE run_id = ?", (killed.id,)
        ).fetchone() == (0,)

    later = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.connect() as connection:
        runs = {r.id: (r.status, r.error) for r in last_runs(connection=connection, last=3)}
    assert runs[killed.id] == ("failed", f"abandoned: process {process.pid} ended mid-run")
    assert runs[later.run_id][0] == "committed"


KILLED_IN_STAGE = """
import sys, time
from contextlib import contextmanager
from pathlib import Path
from store.db import make_engine
from tagging.run import pipeline
from tagging.run import RunOptions, run_tagging

real_stage = pipeline.Pipeline.stage
@contextmanager
def stalled_stage(self, name):
    with real_stage(self, name) as notes:
        if name == sys.argv[4]:
            Path(sys.argv[3]).write_text(name)
            time.sleep(60)
        yield notes

pipeline.Pipeline.stage = stalled_stage
engine = make_engine(sys.argv[1])
run_tagging(engine=engine, options=RunOptions(Path(sys.argv[2]), "test-id-key-0123456789"))
"""
STAGES = [
    "ingest",
    "clean",
    "identity",
    "features",
    "basket",
    "models",
    "tags",
    "personas",
    "collect",
]


def test_a_run_killed_in_any_stage_leaves_the_previous_run_serving(
    tmp_path: Path, shop_dir, engine: Engine
) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    previous = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    database = engine.url.database
    assert database is not None
    killed: dict[str, int] = {}
    for stage in STAGES:
        marker = tmp_path / f"in-{stage}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                KILLED_IN_STAGE,
                str(engine.url),
                str(folder),
                str(marker),
                stage,
            ],
            cwd=Path(__file__).parents[2],
        )
        deadline = time.monotonic() + 120
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), f"the run never reached {stage}"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed[stage] = process.pid
        with Session(engine) as session:
            assert current_run(connection=session.connection()).id == previous.run_id  # type: ignore[union-attr]
        with sqlite3.connect(database) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            written = [
                raw.execute(
                    f"SELECT count(*) FROM {table} WHERE run_id > ?", (previous.run_id,)
                ).fetchone()[0]
                for table in ("profiles", "tag_bitmaps", "run_members", "run_files")
            ]
            assert written == [0, 0, 0, 0], stage
    later = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.connect() as connection:
        runs = {r.id: (r.status, r.error) for r in last_runs(connection=connection, last=20)}
    # Each start found the one before abandoned; the run after the last one commits.
    abandoned = [runs[previous.run_id + 1 + n] for n in range(len(STAGES))]
    assert abandoned == [
        ("failed", f"abandoned: process {killed[stage]} ended mid-run") for stage in STAGES
    ]
    assert runs[later.run_id][0] == "committed"


def test_open_keys_list_the_values_the_run_found(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    with engine.connect() as connection:
        definitions = {
            d.key: d for d in tag_definitions(connection=connection, run_id=result.run_id)
        }
    assert definitions["primary_channel"].values == ["app", "web"]  # found in the orders
    assert definitions["preferred_category"].values == []  # no events: nothing found
    assert definitions["purchase_time_slot"].values == ["morning", "afternoon", "evening", "night"]
    assert definitions["monetary"].values == []  # numbers are compared, never listed


def test_saved_audiences_are_counted_on_every_new_run(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    first = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    with engine.begin() as connection:
        save(
            connection=connection,
            name="slipping",
            expression="lifecycle IN (churn_risk, dormant)",
            by="ops",
        )
        save(connection=connection, name="typo", expression="lifecycle:actve", by="ops")
    later = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    assert later.audiences == {
        "slipping": 2,  # fading and asleep, as of the latest order
        "typo": "unknown value 'actve' of tag key 'lifecycle'; did you mean active, "
        "reactivated? (at position 0)",
    }
    with engine.connect() as connection:
        recorded = sizes(connection=connection, name="slipping")
    assert [(s.run_id, s.persons) for s in recorded] == [(later.run_id, 2)]
    assert first.audiences == {}


def test_value_segments_follow_rfm_and_days_since_the_last_order(shop_dir, engine: Engine) -> None:
    folder = shop_dir(orders=LIFECYCLE_ORDERS)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, as_of=AS_OF))
    assert _tags_by_user(engine, result.run_id, "value_segment") == {
        "new": "new",  # first order 10 days before as_of
        "back": "potential_growth",  # ordered 5 days ago, F = 3
        "steady": "potential_growth",  # 46 days ago
        "fading": "churn_warning",  # 107 days ago with F = M = 3
        "asleep": "churn_warning",  # 166 days ago with F = M = 3
        # gone: one small order 394 days ago (F = M = 1): in no segment
    }
    # The shipped channel rules: new buyers get SMS, 120+ days without an order a win-back mail.
    assert _tags_by_user(engine, result.run_id, "recommended_channel") == {
        "new": "sms",
        "back": "sms",
        "steady": "sms",
        "fading": "sms",
        "asleep": "email_winback",
        "gone": "email_winback",
    }
    # Five buyers before the 90-day cutoff are too few to train on: a note, not a model.
    assert result.reports["models"]["churn_risk"] == {
        "horizon_days": 90,
        "buyers": 5,
        "positive_share": 0.6,
        "note": "not enough history before the cutoff: 5 buyers, 3 of them positive; no model",
    }
