"""`portrait ingest`: a JSON lines pipe and a JSON array file into the store, as POST /events
takes them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson
from sqlalchemy.engine import Engine

from store.live import log as live
from tests.api.test_serve import PORTRAIT

VIEW = {"event_id": "e-1", "user_id": "u-1", "event_type": "pv", "ts": "2026-06-30 10:00"}
BAD = {"event_id": "e-2", "user_id": "u-1", "event_type": "view", "ts": "nope"}
ORDER = {"source": "orders", "order_id": "o-1", "user_id": "u-1", "ts": "2026-06-30", "amount": 3}


def _ingest(store_url: str, source: str, stdin: bytes = b"") -> str:
    done = subprocess.run(
        [str(PORTRAIT), "ingest", source],
        input=stdin,
        env={**os.environ, "PORTRAIT_DATABASE_URL": store_url, "COLUMNS": "200"},
        capture_output=True,
        check=True,
    )
    return done.stdout.decode()


def test_a_pipe_of_json_lines_then_the_same_again(store_url: str, engine: Engine) -> None:
    lines = b"\n".join([orjson.dumps(VIEW), orjson.dumps(BAD), b"{oops"]) + b"\n"

    first = _ingest(store_url, "-", lines)
    again = _ingest(store_url, "-", lines)

    assert first == (
        "item 1: ts: bad_timestamp\nitem 2: not_json\n"
        "accepted 1, duplicates 0 (stored before), quarantined 2\n"
    )
    assert again == (
        "item 0: event_id: duplicate_event_id\nitem 1: ts: bad_timestamp\nitem 2: not_json\n"
        "accepted 0, duplicates 1 (stored before), quarantined 3\n"
    )
    with engine.connect() as connection:
        [event] = live.events_after(connection=connection, seq=0, limit=10)
    assert (event.event_id, event.event_type) == ("e-1", "view")


def test_a_json_array_file_with_an_order(store_url: str, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_bytes(orjson.dumps([ORDER]))

    assert (
        _ingest(store_url, str(path)) == "accepted 1, duplicates 0 (stored before), quarantined 0\n"
    )
    with engine.connect() as connection:
        [order] = live.orders_after(connection=connection, seq=0, limit=10)
    assert (order.order_id, order.user_id, order.amount) == ("o-1", "u-1", 3.0)
