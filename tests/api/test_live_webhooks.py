"""Webhooks: signed POSTs to a real HTTP receiver on 127.0.0.1 that fails and then succeeds,
retried with back-off and logged; a dead endpoint blocks neither ingest nor other webhooks;
registration by role; events posted reach a webhook through the incremental hook."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import httpx
import orjson
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from api.live.feed import MicroBatch
from store import keys
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live.log import ChangeRow, NewChange
from store.settings import Settings
from tests.api.client import client_for
from tests.api.test_serve import free_port

pytestmark = pytest.mark.anyio

REGISTER = """
mutation Register($url: String!) {
  registerWebhook(savedAudienceId: "women", url: $url) {
    __typename
    ... on WebhookRegistered {
      secret webhook { id savedAudienceId url createdBy deliveredThrough }
    }
    ... on WebhookError { message }
  }
}
"""
DELIVERIES = """
{ webhooks(savedAudienceId: "women") {
    id deliveredThrough
    deliveries { firstChange lastChange changes attempt statusCode error delivered }
} }
"""
WAIT_SECONDS = 20


@dataclass
class Receiver:
    """An HTTP endpoint answering `statuses` in turn (then 200), keeping what it got."""

    statuses: list[int]
    received: list[tuple[bytes, str]] = field(default_factory=list)
    delivered: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(statuses=[500, 503])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            found.received.append((body, self.headers["x-portrait-signature"]))
            status = found.statuses.pop(0) if found.statuses else 200
            self.send_response(status)
            self.end_headers()
            if status == 200:
                found.delivered.set()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def women(engine: Engine, shop_run: int) -> str:
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="women", expression="gender:female", by="t"
        )
    return "women"


def _settings(store_url: str) -> Settings:
    return Settings(database_url=store_url, webhook_retry_seconds=0.05)


async def _post(client: httpx.AsyncClient, query: str, key: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _wait(event: threading.Event) -> None:
    assert await anyio.to_thread.run_sync(event.wait, WAIT_SECONDS)


async def _logged_once_delivered(
    client: httpx.AsyncClient, key: str, *, through: str, hook: int = 0
) -> Any:
    """The webhooks' log, once webhook `hook` (by position) records delivery through `through`."""
    with anyio.fail_after(WAIT_SECONDS):
        while True:
            logged = await _post(client, DELIVERIES, key)
            if logged["data"]["webhooks"][hook]["deliveredThrough"] == through:
                return logged
            await anyio.sleep(0.05)


def _append(engine: Engine, *changes: NewChange) -> list[ChangeRow]:
    with engine.begin() as connection:
        return live.append_changes(connection=connection, changes=changes)


ANN_ENTERED = NewChange("women", "p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC), "rfm")
DEE_LEFT = NewChange("women", "p-dee", "left", datetime(2026, 7, 1, 9, 1, tzinfo=UTC), "lifecycle")


async def test_a_failing_endpoint_gets_the_same_signed_batch_until_it_takes_it(
    store_url: str, engine: Engine, women: str, receiver: Receiver
) -> None:
    analyst, _ = keys.create(engine=engine, role="analyst", name="crm")
    async with client_for(create_app(_settings(store_url))) as client:
        registered = await _post(client, REGISTER, analyst, url=receiver.url)
        _append(engine, ANN_ENTERED, DEE_LEFT)
        await _wait(receiver.delivered)
        logged = await _logged_once_delivered(client, analyst, through="2")

    answer = registered["data"]["registerWebhook"]
    secret = answer.pop("secret")
    assert secret.startswith("whsec_")
    assert answer == {
        "__typename": "WebhookRegistered",
        "webhook": {
            "id": "1",
            "savedAudienceId": "women",
            "url": receiver.url,
            "createdBy": "crm",
            "deliveredThrough": "0",
        },
    }
    bodies = {body for body, _ in receiver.received}
    assert len(receiver.received) == 3 and len(bodies) == 1  # one batch, three attempts
    body = bodies.pop()
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert {signature for _, signature in receiver.received} == {expected}
    assert orjson.loads(body) == {
        "webhookId": "1",
        "savedAudienceId": "women",
        "changes": [
            {
                "id": "1",
                "personId": "p-ann",
                "change": "entered",
                "at": "2026-07-01T09:00:00+00:00",
                "why": "rfm",
            },
            {
                "id": "2",
                "personId": "p-dee",
                "change": "left",
                "at": "2026-07-01T09:01:00+00:00",
                "why": "lifecycle",
            },
        ],
    }
    attempt = {"firstChange": "1", "lastChange": "2", "changes": 2}
    assert logged == {
        "data": {
            "webhooks": [
                {
                    "id": "1",
                    "deliveredThrough": "2",
                    "deliveries": [
                        {
                            **attempt,
                            "attempt": 1,
                            "statusCode": 500,
                            "delivered": False,
                            "error": "the endpoint answered 500",
                        },
                        {
                            **attempt,
                            "attempt": 2,
                            "statusCode": 503,
                            "delivered": False,
                            "error": "the endpoint answered 503",
                        },
                        {
                            **attempt,
                            "attempt": 3,
                            "statusCode": 200,
                            "delivered": True,
                            "error": None,
                        },
                    ],
                }
            ]
        }
    }
    audited = keys.audit_entries(engine=engine, limit=10)
    assert sorted((a.key_name, a.person_id, a.query) for a in audited) == [
        ("crm", "p-ann", "webhook 1"),
        ("crm", "p-dee", "webhook 1"),
    ]


def _women_enter(engine: Engine, batch: MicroBatch) -> Sequence[ChangeRow]:
    """A stand-in for the incremental tags: every user an event names enters `women` (appended
    to the log, as the incremental tags append their changes)."""
    now = datetime.now(UTC)
    changes = [
        NewChange("women", f"p-{user}", "entered", now, "test") for user in sorted(batch.user_ids)
    ]
    return _append(engine, *changes)


async def test_a_dead_endpoint_blocks_neither_ingest_nor_another_webhook(
    store_url: str, engine: Engine, women: str, receiver: Receiver
) -> None:
    receiver.statuses = []
    analyst, _ = keys.create(engine=engine, role="analyst", name="crm")
    tracker, _ = keys.create(engine=engine, role="ingest", name="tracker")
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    event = {"event_id": "e-1", "user_id": "u-7", "event_type": "view", "ts": "2026-07-01 09:00"}
    app = create_app(_settings(store_url), incremental=_women_enter)
    async with client_for(app) as client:
        await _post(client, REGISTER, analyst, url=dead)
        await _post(client, REGISTER, analyst, url=receiver.url)
        posted = await client.post(
            "/events", json=[event], headers={"authorization": f"Bearer {tracker}"}
        )
        await _wait(receiver.delivered)
        logged = await _logged_once_delivered(client, analyst, through="1", hook=1)

    assert posted.json() == {"accepted": 1, "duplicates": 0, "quarantined": 0, "errors": []}
    [(body, _)] = receiver.received
    assert [c["personId"] for c in orjson.loads(body)["changes"]] == ["p-u-7"]
    dead_hook, good_hook = logged["data"]["webhooks"]
    assert good_hook["deliveredThrough"] == "1"
    assert dead_hook["deliveredThrough"] == "0"
    assert {d["delivered"] for d in dead_hook["deliveries"]} == {False}
    assert dead_hook["deliveries"][0]["error"].startswith("ConnectError")


@pytest.mark.parametrize(
    ("role", "url", "answer"),
    [
        ("operator", "http://127.0.0.1:1/hook", None),
        (
            "analyst",
            "ftp://example.com/hook",
            "url 'ftp://example.com/hook' must be an http:// or https:// address",
        ),
        (
            "analyst",
            "https://user:pw@example.com/",
            "url 'https://user:pw@example.com/' must not hold a user name or password "
            "(the signature authenticates)",
        ),
    ],
)
async def test_who_may_register_a_webhook_and_where_to(
    store_url: str, engine: Engine, women: str, role: str, url: str, answer: str | None
) -> None:
    key, _ = keys.create(engine=engine, role=role, name="someone")
    async with client_for(create_app(_settings(store_url))) as client:
        body = await _post(client, REGISTER, key, url=url)
    if answer is None:
        assert [e["message"] for e in body["errors"]] == [
            "registerWebhook needs the analyst role; this key (someone) is operator"
        ]
    else:
        assert body == {
            "data": {"registerWebhook": {"__typename": "WebhookError", "message": answer}}
        }
