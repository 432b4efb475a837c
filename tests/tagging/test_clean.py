"""Cleaning: timestamps to UTC, bad rows quarantined with their reason, duplicates and bots."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from store.profiles.export import export_tags
from store.runs import quarantine
from tagging.ingest import connect
from tagging.parsing import parse_timestamp
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

ORDERS = """
order_id,user_id,ts,amount,coupon_code,discount,channel
o1,u1,2026-06-01T10:00:00+08:00,100,,0,app
o2,u1,2026-06-02T10:00:00Z,20,,0,app
,u1,2026-06-02T10:00:00Z,20,,0,app
o4,u2,not-a-date,30,,0,web
o5,u2,2026-06-03T10:00:00Z,-1,,0,web
o6,ghost,2026-06-03T10:00:00Z,5,,0,web
o1,u1,2026-06-01T10:00:00+08:00,100,,0,app
o8,u2,2026-06-03T10:00:00Z,abc,,0,web
"""
USERS = """
user_id,registered_at,birth_date,gender,region,member_level
u1,2025-01-01 00:00:00,1990-07-01,F,East China,gold
u2,2025-01-01 00:00:00,,M,North China,silver
u2,2025-02-01 00:00:00,,M,North China,silver
"""
ITEMS = """
order_id,item_id,quantity,price
o1,i1,1,100
o2,i2,0,20
o9,i3,1,5
o5,i4,1,5
"""


def _times(*texts: str) -> list[object]:
    con = connect()
    table = con.create_table("t", pa.table({"ts": pa.array(texts, pa.string())}))
    return parse_timestamp(table.ts).name("t").to_pyarrow().to_pylist()


def test_timestamp_formats_all_become_the_same_utc_instant() -> None:
    same_instant = [
        "2026-05-01T18:03:11+08:00",
        "2026-05-01T10:03:11Z",
        "2026-05-01T05:03:11-05:00",
        "2026-05-01 10:03:11",
        "1777629791",
        "1777629791000",
    ]
    parsed = _times(*same_instant)
    assert {str(p) for p in parsed} == {"2026-05-01 10:03:11"}


def test_unreadable_timestamps_parse_to_null() -> None:
    assert _times("not-a-date", "2026-13-45 25:00:00", "12345") == [None, None, None]


def test_epoch_numbers_are_nine_or_ten_digits_of_seconds_or_twelve_or_thirteen_of_ms() -> None:
    epochs = ["100000000", "1000000000", "100000000000", "1000000000000"]
    assert [str(t) for t in _times(*epochs)] == [
        "1973-03-03 09:46:40",
        "2001-09-09 01:46:40",
        "1973-03-03 09:46:40",
        "2001-09-09 01:46:40",
    ]
    # Eleven digits, digits of another script, a sign: no epoch number (and no date).
    assert _times("10000000000", "１０００００００００", "+100000000") == [None, None, None]


@pytest.fixture
def cleaned(shop_dir, engine: Engine) -> tuple[Engine, int, dict]:
    folder = shop_dir(orders=ORDERS, users=USERS, order_items=ITEMS)
    result = run_tagging(
        engine=engine, options=RunOptions(source=folder, id_key=ID_KEY, as_of=date(2026, 6, 30))
    )
    return engine, result.run_id, result.quality


def test_every_dropped_row_is_quarantined_with_its_reason(cleaned) -> None:
    engine, run_id, _ = cleaned
    with engine.connect() as connection:
        rows = quarantine.rows(connection=connection, run_id=run_id)
    found = sorted(zip(rows.source, rows.row_number, rows.reason, strict=True))
    assert found == [
        ("order_items", 2, "bad_quantity"),
        ("order_items", 3, "unknown_order"),
        ("order_items", 4, "order_quarantined"),
        ("orders", 3, "missing_order_id"),
        ("orders", 4, "bad_timestamp"),
        ("orders", 5, "negative_amount"),
        ("orders", 7, "duplicate_order_id"),
        ("orders", 8, "bad_amount"),
        ("users", 3, "duplicate_user_id"),
    ]
    raw = next(json.loads(r.raw) for r in rows.itertuples() if r.reason == "negative_amount")
    assert raw == {
        "order_id": "o5",
        "user_id": "u2",
        "ts": "2026-06-03T10:00:00Z",
        "amount": "-1",
        "coupon_code": None,
        "discount": "0",
        "pay_method": None,
        "channel": "web",
    }


def test_quality_report_accounts_for_every_row(cleaned) -> None:
    _, _, quality = cleaned
    assert quality["orders"] == {
        "read": 8,
        "kept": 3,
        "after_as_of": 0,
        "dropped": {
            "bad_amount": 1,
            "bad_timestamp": 1,
            "duplicate_order_id": 1,
            "missing_order_id": 1,
            "negative_amount": 1,
        },
        "unreadable": {},
        "encoding": "utf-8",
        # o6's buyer 'ghost' is not in users.csv: kept, counted, without demographic tags.
        "users_not_listed": 1,
    }
    assert quality["order_items"] == {
        "read": 4,
        "kept": 1,
        "after_as_of": 0,
        "dropped": {"bad_quantity": 1, "order_quarantined": 1, "unknown_order": 1},
        "unreadable": {},
        "encoding": "utf-8",
    }
    for q in quality.values():
        assert q["read"] == q["kept"] + q["after_as_of"] + sum(q["dropped"].values())


EVENTS_HEADER = "event_id,user_id,device_id,event_type,ts,item_id,category,user_agent"


def _events(rows: list[str]) -> str:
    return "\n".join([EVENTS_HEADER, *rows])


def _human_rows() -> list[str]:
    # one person browsing: an event every 30 s, never more than 2 a minute
    return [
        f"h{i},u1,dev-h,view,{1780000000 + 30 * i},i1,baby,Mozilla/5.0 (iPhone)" for i in range(40)
    ]


def _rate_bot_rows() -> list[str]:
    # a browser user agent, but an event every second for two minutes
    return [
        f"r{i},,dev-r,view,{1780000000 + i},i2,toys,Mozilla/5.0 (Windows NT 10.0)"
        for i in range(120)
    ]


def _agent_bot_rows() -> list[str]:
    # slow, but announces itself as a crawler
    return [
        f"a{i},,dev-a,view,{1780000000 + 600 * i},i2,toys,python-requests/2.31" for i in range(5)
    ]


def test_duplicates_and_bots_are_quarantined_and_people_kept(shop_dir, engine: Engine) -> None:
    rows = _human_rows() + _rate_bot_rows() + _agent_bot_rows()
    rows += _human_rows()[:3]  # the same three events delivered twice
    folder = shop_dir(
        orders="order_id,user_id,ts,amount\no1,u1,1780000100,10", events=_events(rows)
    )
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY))
    assert result.quality["events"] == {
        "read": 168,
        "kept": 40,
        "after_as_of": 0,
        "dropped": {"bot_rate": 120, "bot_user_agent": 5, "duplicate_event_id": 3},
        "unreadable": {},
        "encoding": "utf-8",
    }
    assert result.persons == 1  # the bots' devices never become persons


def test_repeats_and_bots_keep_their_own_text_read_again_from_the_file(
    shop_dir, engine: Engine
) -> None:
    """The text of an event quarantined once as_of is known (a repeat, a bot) is not kept as
    the file is read: it is read again, and must be its own row's, under its own number."""
    rows = _human_rows()[:2] + _agent_bot_rows()[:1] + _human_rows()[1:2]
    folder = shop_dir(
        orders="order_id,user_id,ts,amount\no1,u1,1780000100,10", events=_events(rows)
    )
    run_id = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY)).run_id
    with engine.connect() as connection:
        found = quarantine.rows(connection=connection, run_id=run_id)
    events = found[found.source == "events"]
    quarantined = {
        r.row_number: (r.reason, json.loads(r.raw)) for r in events.itertuples(index=False)
    }
    assert {n: reason for n, (reason, _raw) in quarantined.items()} == {
        3: "bot_user_agent",
        4: "duplicate_event_id",
    }
    header = EVENTS_HEADER.split(",")
    assert {k: v for k, v in quarantined[3][1].items() if v is not None} == {
        k: v for k, v in zip(header, _agent_bot_rows()[0].split(","), strict=True) if v
    }
    assert {k: v for k, v in quarantined[4][1].items() if v is not None} == {
        k: v for k, v in zip(header, _human_rows()[1].split(","), strict=True) if v
    }


def test_a_busy_but_human_minute_is_not_a_bot(shop_dir, engine: Engine) -> None:
    """20 events in one minute is the most a person is assumed to send (the threshold)."""
    rows = [f"b{i},u1,dev-b,click,{1780000020 + 2 * i},i1,baby,Mozilla/5.0" for i in range(20)]
    folder = shop_dir(
        orders="order_id,user_id,ts,amount\no1,u1,1780000100,10", events=_events(rows)
    )
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY))
    assert result.quality["events"]["kept"] == 20


def test_replaying_the_same_events_changes_no_tag(shop_dir, engine: Engine) -> None:
    """Event ids make ingest idempotent: a file delivered twice tags exactly as once."""
    orders = "order_id,user_id,ts,amount\no1,u1,1780000100,10"
    once = run_tagging(
        engine=engine,
        options=RunOptions(
            source=shop_dir(orders=orders, events=_events(_human_rows())), id_key=ID_KEY
        ),
    )
    rows = _human_rows()
    twice = run_tagging(
        engine=engine,
        options=RunOptions(
            source=shop_dir(orders=orders, events=_events(rows + rows)), id_key=ID_KEY
        ),
    )
    assert twice.quality["events"]["dropped"] == {"duplicate_event_id": 40}
    first = export_tags(engine=engine, run_id=once.run_id)
    second = export_tags(engine=engine, run_id=twice.run_id)
    pd.testing.assert_frame_equal(first, second)
    assert "preferred_category" in set(first.key)  # browsing shows in the tags compared
    assert first[first.key == "preferred_category"].value.tolist() == ["baby"]
