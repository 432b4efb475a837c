"""POST /events: cleaning as a run cleans, per-event errors that do not block the good ones,
duplicates by id across requests, the ingest role, the event budget and the body limit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from api.app import create_app
from api.report import access as report_access
from store import keys
from store.live import lines as live_lines
from store.live import log as live
from store.live.log import LiveEvent, LiveOrder
from store.models import table_of
from store.settings import Settings
from tests.api.client import client_as, client_for

pytestmark = pytest.mark.anyio

GOOD_VIEW = {
    "event_id": "e-1",
    "userId": " u-1001 ",
    "event_type": "加购",
    "ts": "2026-06-30 10:00:00",
    "category": "母婴",
}
MIXED: list[Any] = [
    GOOD_VIEW,
    {"event_id": "e-2", "user_id": "u-1001", "event_type": "view", "ts": "yesterday"},
    {"event_id": "e-1", "user_id": "u-1002", "event_type": "view", "ts": 1782813600},
    {
        "device_id": "d-9",
        "event_type": "view",
        "ts": "2026-06-30T10:00:00+08:00",
        "user_agent": "Googlebot/2.1",
    },
    {"event_id": "e-3", "event_type": "view", "ts": "2026-06-30 10:00:00"},
    {
        "source": "orders",
        "order_id": "o-1",
        "user_id": "u-1001",
        "ts": "2026/06/30 10:05",
        "amount": 99.5,
    },
    {
        "source": "orders",
        "order_id": "o-2",
        "user_id": "u-1001",
        "ts": "2026/06/30 10:05",
        "amount": "-1",
    },
    {"source": "refunds", "order_id": "o-1"},
    "not an object",
    {"user_id": ["u-1"], "event_type": "view", "ts": "2026-06-30"},
]
MIXED_ERRORS = [
    {"index": 1, "source": "events", "reason": "bad_timestamp", "field": "ts"},
    {"index": 2, "source": "events", "reason": "duplicate_event_id", "field": "event_id"},
    {"index": 3, "source": "events", "reason": "bot_user_agent", "field": "user_agent"},
    {"index": 4, "source": "events", "reason": "missing_identity", "field": "user_id"},
    {"index": 6, "source": "orders", "reason": "negative_amount", "field": "amount"},
    {"index": 7, "source": "unknown", "reason": "unknown_source", "field": "source"},
    {"index": 8, "source": "unknown", "reason": "not_an_object", "field": None},
    {"index": 9, "source": "events", "reason": "not_text", "field": "user_id"},
]


def _settings(store_url: str, **more: Any) -> Settings:
    return Settings(database_url=store_url, **more)


async def test_a_mixed_batch_keeps_the_good_events_and_names_each_bad_ones_field(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        response = await client.post("/events", json=MIXED)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 2,
        "duplicates": 1,
        "quarantined": 8,
        "errors": MIXED_ERRORS,
    }
    events, orders = table_of(LiveEvent), table_of(LiveOrder)
    with engine.connect() as connection:
        stored_events = connection.execute(
            select(
                events.c.event_id,
                events.c.user_id,
                events.c.event_type,
                events.c.ts,
                events.c.category,
            )
        ).all()
        stored_orders = connection.execute(
            select(orders.c.order_id, orders.c.user_id, orders.c.ts, orders.c.amount)
        ).all()
        quarantined = live.quarantined(connection=connection)
    assert [tuple(row) for row in stored_events] == [
        ("e-1", "u-1001", "add_to_cart", datetime(2026, 6, 30, 10, 0), "母婴")
    ]
    assert [tuple(row) for row in stored_orders] == [
        ("o-1", "u-1001", datetime(2026, 6, 30, 10, 5), 99.5)
    ]
    assert [(q.source, q.reason, q.field) for q in quarantined] == [
        (e["source"], e["reason"], e["field"]) for e in MIXED_ERRORS
    ]
    assert orjson.loads(quarantined[0].raw) == MIXED[1]  # kept as it was sent


LINES: list[Any] = [
    {"source": "orders", "order_id": "o-1", "user_id": "u-1", "ts": "2026-06-30", "amount": 9},
    {"source": "order_items", "order_id": "o-1", "item_id": " SKU-1 ", "quantity": "2",
     "price": "¥3.00", "category": "母婴"},
    {"source": "order_items", "order_id": "o-1", "item_id": "SKU-2", "quantity": "0",
     "price": "3"},
    {"source": "order_items", "order_id": "o-9", "item_id": "SKU-3", "quantity": 1, "price": 3},
    {"source": "order_items", "order_id": "o-1", "quantity": 1, "price": 3},
]  # fmt: skip
LINES_ERRORS = [
    {"index": 2, "source": "order_items", "reason": "bad_quantity", "field": "quantity"},
    {"index": 3, "source": "order_items", "reason": "order_not_posted", "field": "order_id"},
    {"index": 4, "source": "order_items", "reason": "missing_item_id", "field": "item_id"},
]


async def test_order_lines_are_taken_with_their_order_and_repeated_with_it(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        first = await client.post("/events", json=LINES)
        again = await client.post("/events", json=LINES[:2])

    assert first.json() == {
        "accepted": 2,
        "duplicates": 0,
        "quarantined": 3,
        "errors": LINES_ERRORS,
    }
    assert again.json() == {
        "accepted": 0,
        "duplicates": 2,
        "quarantined": 2,
        "errors": [
            {"index": i, "source": source, "reason": "duplicate_order_id", "field": "order_id"}
            for i, source in enumerate(("orders", "order_items"))
        ],
    }
    with engine.connect() as connection:
        stored = live_lines.lines_of(connection=connection, order_ids=["o-1", "o-9"])
        quarantined = live.quarantined(connection=connection)
    assert stored == [live_lines.LineRow("o-1", "SKU-1", 2, "母婴")]
    assert [(q.source, q.reason, q.field) for q in quarantined] == [
        *((e["source"], e["reason"], e["field"]) for e in LINES_ERRORS),
        ("orders", "duplicate_order_id", "order_id"),
        ("order_items", "duplicate_order_id", "order_id"),
    ]
    assert orjson.loads(quarantined[-1].raw) == LINES[1]  # kept as it was sent


async def test_an_event_sent_again_is_acknowledged_as_a_duplicate_and_stored_once(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    order = {
        "source": "orders",
        "order_id": "o-1",
        "user_id": "u-1",
        "ts": "2026-06-30",
        "amount": 5,
    }
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        first = await client.post("/events", json=[GOOD_VIEW, order])
        again = await client.post("/events", json=[GOOD_VIEW, order])

    assert first.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0, "errors": []}
    assert again.json() == {
        "accepted": 0,
        "duplicates": 2,
        "quarantined": 2,
        "errors": [
            {"index": 0, "source": "events", "reason": "duplicate_event_id", "field": "event_id"},
            {"index": 1, "source": "orders", "reason": "duplicate_order_id", "field": "order_id"},
        ],
    }
    with engine.connect() as connection:
        assert live.last_seqs(connection=connection) == (1, 1)
        reasons = [q.reason for q in live.quarantined(connection=connection)]
    assert reasons == ["duplicate_event_id", "duplicate_order_id"]


async def test_json_lines_are_read_line_by_line_and_a_broken_line_is_its_own_error(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    second = {
        "event_id": "e-2",
        "device_id": "d-1",
        "event_type": "click",
        "ts": "2026-06-30 11:00",
    }
    body = orjson.dumps(GOOD_VIEW) + b"\n{not json\n\n" + orjson.dumps(second) + b"\n"
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        response = await client.post(
            "/events", content=body, headers={"content-type": "application/x-ndjson"}
        )

    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "quarantined": 1,
        "errors": [{"index": 1, "source": "unknown", "reason": "not_json", "field": None}],
    }
    with engine.connect() as connection:
        assert [e.event_id for e in live.events_after(connection=connection, seq=0, limit=10)] == [
            "e-1",
            "e-2",
        ]
        assert live.quarantined(connection=connection)[0].raw == "{not json"


async def test_a_body_that_is_no_json_is_refused_whole(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        response = await client.post(
            "/events", content=b"[{", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.text.startswith("the body is not JSON")


@pytest.mark.parametrize(("role", "status"), [("operator", 403), ("analyst", 403), ("admin", 200)])
async def test_only_ingest_and_admin_keys_post_events(
    store_url: str, engine: Engine, shop_run: int, role: str, status: int
) -> None:
    async with client_as(_settings(store_url), engine, role=role) as client:
        response = await client.post("/events", json=[GOOD_VIEW])
    assert response.status_code == status
    if status == 403:
        assert response.text == (
            f"posting events needs the ingest or admin role; this key ({role}-team) is {role}"
        )


@pytest.mark.parametrize(
    "document",
    [
        "{ runs { id } }",
        '{ audience(expression: "gender:female") { count } }',
        "{ webhooks { id } }",
    ],
)
async def test_an_ingest_key_reads_nothing_through_graphql(
    store_url: str, engine: Engine, shop_run: int, document: str
) -> None:
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        response = await client.post("/graphql", json={"query": document})
    assert response.status_code == 403
    assert response.text == (
        "this key (ingest-team) is ingest: it may post events (POST /events) and read nothing"
    )


async def test_an_ingest_key_does_not_open_the_report(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    key, _ = keys.create(engine=engine, role="ingest", name="tracker")
    async with client_for(create_app(_settings(store_url))) as client:
        by_header = await client.get("/report", headers={"authorization": f"Bearer {key}"})
        client.cookies.set(report_access.COOKIE, key)
        by_cookie = await client.get("/report")
    assert by_header.status_code == 401  # the page asks for another key
    assert by_cookie.status_code == 403


async def test_a_key_past_its_events_per_minute_gets_429_and_nothing_is_stored(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    events = [{**GOOD_VIEW, "event_id": f"e-{n}"} for n in range(5)]
    settings = _settings(store_url, ingest_events_per_minute=3)
    async with client_as(settings, engine, role="ingest") as client:
        first = await client.post("/events", json=events[:2])
        refused = await client.post("/events", json=events[2:4])
        too_many = await client.post("/events", json=events[:4])

    assert first.json()["accepted"] == 2
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"  # one event short, at 3 a minute
    assert too_many.status_code == 413
    with engine.connect() as connection:
        assert live.last_seqs(connection=connection) == (2, 0)


async def test_a_body_over_the_limit_is_refused(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    events = [{**GOOD_VIEW, "event_id": f"e-{n}"} for n in range(1_000)]
    async with client_as(_settings(store_url), engine, role="ingest") as client:
        response = await client.post("/events", json=events)
    assert response.status_code == 413
    with engine.connect() as connection:
        assert live.last_seqs(connection=connection) == (0, 0)
