"""The events' crawler test, told in advance the common user agents of the file's first rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tagging import ingest
from tagging.clean.events import check_events, checks_of_sample, crawler
from tagging.ingest import CONTRACT, connect, read_source
from tests.tagging.conftest import write_csv

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CURL = "curl/8.4.0"
# Agents of the file's first rows: IPhone the commonest human one, then Firefox.
SAMPLE = [IPHONE, FIREFOX, IPHONE, GOOGLEBOT, GOOGLEBOT, GOOGLEBOT, None, IPHONE, FIREFOX]


def test_the_sampled_human_agents_are_the_commonest_that_are_no_crawlers() -> None:
    columns = {c: pa.array([None] * len(SAMPLE), pa.string()) for c in CONTRACT["events"].columns}
    columns["user_agent"] = pa.array(SAMPLE, pa.string())
    con = connect()
    try:
        checks = checks_of_sample(con.create_table("sample", pa.table(columns)))
    finally:
        con.disconnect()
    assert checks.keywords == {"human_agents": (IPHONE, FIREFOX)}  # type: ignore[attr-defined]


def test_known_human_agents_change_no_crawler_answer() -> None:
    """An agent the list names is compared, one it does not name is matched as before: a
    crawler's agent, a human one not sampled, a missing one."""
    agents = [IPHONE, FIREFOX, SAFARI, GOOGLEBOT, CURL, None, "python-requests/2.31"]
    con = connect()
    try:
        table = con.create_table("agents", pa.table({"agent": pa.array(agents, pa.string())}))
        answers = [
            table.select(c=crawler(table.agent, known)).c.to_pyarrow().to_pylist()
            for known in ((), (IPHONE, FIREFOX))
        ]
    finally:
        con.disconnect()
    assert answers[0] == [False, False, False, True, True, False, True]
    assert answers[1] == answers[0]


def test_events_read_with_checks_of_their_first_rows_are_checked_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first nine rows are the sample; curl's and Safari's agents come after them."""
    monkeypatch.setattr(ingest, "SAMPLE_ROWS", len(SAMPLE))
    rows = [
        f"e{i},u{i % 3},d{i % 5},view,{1780000000 + i},{SAMPLE[i % len(SAMPLE)] or ''}"
        for i in range(30)
    ]
    rows += [f"x{i},u9,,view,1780000100,{agent}" for i, agent in enumerate([CURL, SAFARI])]
    header = "event_id,user_id,device_id,event_type,ts,user_agent"
    path = write_csv(tmp_path, "events", "\n".join([header, *rows]))
    found = []
    for how in ({"checks": check_events}, {"checks_of_sample": checks_of_sample}):
        con = connect()
        try:
            source = read_source(con, "events", path, **how)  # type: ignore[arg-type]
            assert source.checked is not None
            checked = source.checked.order_by("_row").to_pyarrow().to_pylist()
            found.append([(r["_row"], r["_crawler"], r["_reason"]) for r in checked])
        finally:
            con.disconnect()
    assert found[1] == found[0]
    crawling = [row for row, is_crawler, _reason in found[0] if is_crawler]
    # Rows 4-6 of every nine carry Googlebot's agent, row 31 curl's.
    assert crawling == [4, 5, 6, 13, 14, 15, 22, 23, 24, 31]


def test_rows_checked_with_many_human_agents_keep_their_numbers_in_the_file(
    tmp_path: Path,
) -> None:
    """Row numbers are the checked table's order, which a join in the read pass would lose:
    the agents are compared as a list (an IN of as many values became a join)."""
    agents = [f"Mozilla/5.0 (Shop app {n})" for n in range(12)]
    rows = [f"e{i},u{i % 7},,view,{1780000000 + i},{agents[i % 12]}" for i in range(300_000)]
    header = "event_id,user_id,device_id,event_type,ts,user_agent"
    path = write_csv(tmp_path, "events", "\n".join([header, *rows]))
    con = connect()
    try:
        source = read_source(con, "events", path, checks_of_sample=checks_of_sample)
        assert source.checked is not None
        checked = source.checked.select("_row", "_event_id", "_crawler").to_pyarrow()
    finally:
        con.disconnect()
    numbered = dict(zip(checked["_row"].to_pylist(), checked["_event_id"].to_pylist(), strict=True))
    assert numbered == {i + 1: f"e{i}" for i in range(300_000)}
    assert not any(checked["_crawler"].to_pylist())
