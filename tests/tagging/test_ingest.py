"""Bad files stop the run with a message naming the file and column; the previous run stays."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.errors import InputError
from store.runs.reads import current_run, last_runs
from tagging import ingest
from tagging.clean.events import check_events
from tagging.ingest import CONTRACT, connect, cursor, read_source
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY, write_csv

GOOD_ORDERS = "order_id,user_id,ts,amount\no1,u1,2026-06-01T10:00:00Z,10"


def _run(engine: Engine, folder: Path) -> int:
    return run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY)).run_id


@pytest.fixture
def previous_run(tmp_path: Path, engine: Engine) -> int:
    return _run(engine, write_csv(tmp_path / "good", "orders", GOOD_ORDERS).parent)


def _assert_previous_still_current(engine: Engine, previous: int) -> None:
    with Session(engine) as session:
        current = current_run(connection=session.connection())
        newest = last_runs(connection=session.connection(), last=1)[0]
    assert current is not None and current.id == previous
    assert newest.status == "failed"


def test_missing_required_column_names_file_and_column(
    tmp_path: Path, engine: Engine, previous_run: int
) -> None:
    path = write_csv(tmp_path / "bad", "orders", "order_id,user_id,ts\no1,u1,1780000000")
    with pytest.raises(InputError) as caught:
        _run(engine, path.parent)
    assert str(caught.value) == (
        f"{path}: missing required column 'amount' (found: order_id, user_id, ts)"
    )
    _assert_previous_still_current(engine, previous_run)


def test_file_that_is_not_its_claimed_format_is_named(
    tmp_path: Path, engine: Engine, previous_run: int
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "orders.parquet").write_text(GOOD_ORDERS)
    with pytest.raises(InputError) as caught:
        _run(engine, folder)
    assert str(caught.value).startswith(f"{folder / 'orders.parquet'}: is not a valid parquet file")
    _assert_previous_still_current(engine, previous_run)


def test_events_without_user_or_device_column_are_refused(tmp_path: Path, engine: Engine) -> None:
    folder = write_csv(tmp_path / "bad", "orders", GOOD_ORDERS).parent
    events = write_csv(folder, "events", "event_type,ts\nview,1780000000")
    with pytest.raises(
        InputError,
        match=r"events\.csv: needs at least one of the columns "
        r"'user_id', 'device_id'",
    ):
        _run(engine, folder)
    assert events.exists()


def test_a_folder_without_orders_is_refused(tmp_path: Path, engine: Engine) -> None:
    folder = write_csv(tmp_path / "bad", "users", "user_id\nu1").parent
    with pytest.raises(InputError, match="no orders file"):
        _run(engine, folder)


def test_jsonl_and_parquet_sources_read_like_csv(tmp_path: Path, engine: Engine) -> None:
    import pandas as pd

    folder = tmp_path / "mixed"
    folder.mkdir()
    orders = pd.DataFrame(
        {
            "order_id": ["o1", "o2"],
            "user_id": ["u1", "u2"],
            "ts": ["2026-06-01T10:00:00Z", "1780000000"],
            "amount": [10.5, 20],
        }
    )
    orders.to_json(folder / "orders.jsonl", orient="records", lines=True)
    pd.DataFrame({"user_id": ["u1", "u2"], "gender": ["F", "M"]}).to_parquet(
        folder / "users.parquet"
    )
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY))
    assert result.quality["orders"]["kept"] == 2
    assert result.quality["users"]["kept"] == 2
    assert result.persons == 2


@pytest.mark.parametrize(("zone", "offset_hours"), [("UTC", 0), ("Asia/Shanghai", 8)])
def test_a_cursor_for_another_thread_reads_times_in_the_shops_zone_as_the_run_does(
    zone: str, offset_hours: int
) -> None:
    """A cursor starts from the database's settings, not from its connection's session (which
    ibis sets to UTC): a naive time means the same instant on the run's connection and on every
    cursor, whatever the machine's own zone."""
    con = connect(zone=zone)
    midnight = "SELECT epoch(TIMESTAMPTZ '2026-06-30 00:00:00')"
    expected = (1_782_777_600 - offset_hours * 3600,)
    try:
        assert con.con.execute(midnight).fetchone() == expected
        with cursor(con) as own:
            assert own.con.execute(midnight).fetchone() == expected
    finally:
        con.disconnect()


def test_ids_lose_stray_spaces_and_other_text_keeps_them(tmp_path: Path) -> None:
    """Ids are trimmed of spaces (a blank id is missing); other columns are read as written."""
    path = write_csv(
        tmp_path,
        "events",
        "event_id,user_id,device_id,event_type,ts,query\n"
        'e1, u1 ,d1 ,view,1780000000," red  shoes "\n'
        'e2,"   ", d2,view,1780000000,plain\n'
        "e3,u 3,,view,1780000000,\n",
    )
    con = connect()
    try:
        rows = read_source(con, "events", path).table.to_pyarrow().to_pylist()
    finally:
        con.disconnect()
    assert [(r["_row"], r["user_id"], r["device_id"], r["query"]) for r in rows] == [
        (1, "u1", "d1", " red  shoes "),
        (2, None, "d2", "plain"),
        (3, "u 3", None, None),
    ]


def test_checks_are_kept_as_the_file_is_read_and_its_text_read_again_only_when_asked(
    tmp_path: Path,
) -> None:
    """The events' checks are what is kept of each row read (naive UTC times, as every later
    query compares them), with a bad row's text as JSON; the source's own view reads the file
    again, numbered as the checks are, showing only the contract's text."""
    path = write_csv(
        tmp_path,
        "events",
        "event_id,user_id,device_id,event_type,ts,user_agent\n"
        "e1,u1,d1,view,1780000000,Mozilla/5.0 (X11; Linux x86_64)\n"
        "e2,,,view,1780000000,Mozilla/5.0\n"
        "e3,u3,,view,not-a-time,Mozilla/5.0\n"
        "e4,,d4,VIEW,1780000000000,Googlebot/2.1 (+http://www.google.com/bot.html)\n",
    )
    con = connect()
    try:
        source = read_source(con, "events", path, checks=check_events)
        assert source.checked is not None
        checked = source.checked.order_by("_row").to_pyarrow().to_pylist()
        text = source.table.order_by("_row").to_pyarrow().to_pylist()
        columns = source.table.columns
    finally:
        con.disconnect()
    assert list(columns) == ["_row", *CONTRACT["events"].columns]
    instant = datetime(2026, 5, 28, 20, 26, 40)  # 1780000000 s after the epoch, UTC
    assert [(r["_row"], r["_reason"], r["_ts"], r["_crawler"]) for r in checked] == [
        (1, None, instant, False),
        (2, "missing_identity", instant, False),
        (3, "bad_timestamp", None, False),
        (4, None, instant, True),
    ]
    assert [r["_event_id"] for r in checked] == ["e1", "e2", "e3", "e4"]
    assert [r["_raw"] is None for r in checked] == [True, False, False, True]
    assert json.loads(checked[2]["_raw"]) == {
        **dict.fromkeys(CONTRACT["events"].columns),
        "event_type": "view",
        "ts": "not-a-time",
        "user_id": "u3",
        "event_id": "e3",
        "user_agent": "Mozilla/5.0",
    }
    assert [(r["_row"], r["event_id"], r["ts"]) for r in text] == [
        (1, "e1", "1780000000"),
        (2, "e2", "1780000000"),
        (3, "e3", "not-a-time"),
        (4, "e4", "1780000000000"),
    ]


QUARANTINE_TEXT_EVENTS = (
    "event_id,user_id,device_id,event_type,ts,user_agent,query\n"
    "e1,u1,d1,view,1780000000,Mozilla/5.0,shoes\n"
    "e1,u1,d1,view,1780000000,Mozilla/5.0,shoes\n"  # the same row twice
    'e2,u2,,view,1780000000,"Mozilla/5.0 (X11, Linux)","red\nshoes"\n'  # a quoted line break
    "e3,u3,,view,1780000000,Mozilla/5.0,\n"
    "e1,u1,d1,view,1780000000,Mozilla/5.0,shoes\n"
)


@pytest.mark.parametrize("hashes", ["distinct", "all_equal"])
def test_the_text_of_wanted_rows_is_found_by_hash_or_else_by_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hashes: str
) -> None:
    """`Source.text_of` gives the wanted rows' text, numbered as the file: found by the hash
    their checked rows keep (of their ids and required columns), in a parallel read, when
    every text found has a hash of its own (the same row twice is one text); when two texts
    share one, by numbering the file's rows."""
    if hashes == "all_equal":
        monkeypatch.setattr(ingest, "_hashed", lambda rows, _columns: _one_hash(rows))
    path = write_csv(tmp_path, "events", QUARANTINE_TEXT_EVENTS)
    con = connect()
    try:
        source = read_source(con, "events", path, checks=check_events, workdir=tmp_path)
        assert source.text_of is not None
        rows = pa.table({"_row": pa.array([2, 3, 4, 5], pa.int64())})
        wanted = con.create_table("wanted_rows", ibis.memtable(rows))
        text = source.text_of(wanted).order_by("_row").to_pyarrow().to_pylist()
        tables = "SELECT table_name FROM duckdb_tables() WHERE table_name = 'found_events'"
        found = bool(con.raw_sql(tables).fetchall())
    finally:
        con.disconnect()
    assert found == (hashes == "distinct")
    assert [(r["_row"], r["event_id"], r["user_agent"], r["query"]) for r in text] == [
        (2, "e1", "Mozilla/5.0", "shoes"),
        (3, "e2", "Mozilla/5.0 (X11, Linux)", "red\nshoes"),
        (4, "e3", "Mozilla/5.0", None),
        (5, "e1", "Mozilla/5.0", "shoes"),
    ]
    assert {r["user_id"] for r in text} == {"u1", "u2", "u3"}


def _one_hash(rows: str) -> str:
    return f"SELECT *, CAST(1 AS UBIGINT) AS {ingest.TEXT_HASH} FROM ({rows})"


def test_events_file_broken_past_the_sniffed_rows_is_named(
    tmp_path: Path, engine: Engine, previous_run: int
) -> None:
    """An events file that turns bad past the rows DuckDB sniffs fails while its checks are
    worked out as it is read: the message names the file and a line, and the previous run
    stays."""
    folder = tmp_path / "bad"
    write_csv(folder, "orders", GOOD_ORDERS)
    good = "".join(f"e{i},u1,,view,1780000000\n" for i in range(60_000))
    path = write_csv(
        folder,
        "events",
        "event_id,user_id,device_id,event_type,ts\n"
        + good
        + 'e-bad,u1,,view,"1780000000\n'
        + good[:1000],
    )
    with pytest.raises(InputError) as caught:
        _run(engine, folder)
    message = str(caught.value)
    assert message.startswith(f"{path}: is not a valid csv file (")
    # DuckDB names the line where the unterminated quote gave out: the bad row's or a later one.
    assert int(message.split("CSV Error on Line: ")[1].rstrip(")")) >= 60_001
    _assert_previous_still_current(engine, previous_run)
