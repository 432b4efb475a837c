"""audienceChanges against `portrait serve` as a real process: over a real WebSocket
(graphql-transport-ws) and over SSE, fed by changes appended to the store's change log by
another process; members for analysts (audited), counts per minute for operators, nothing for
an ingest key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from api.execution import SUBSCRIBE_WITH_A_STREAM
from store import keys
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live.log import NewChange
from tests.api.client import subscribed
from tests.api.test_serve import serving

CHANGES = """
subscription Changes($audience: String!, $after: ID) {
  audienceChanges(savedAudienceId: $audience, after: $after) {
    __typename
    ... on MembershipChange { id personId change at why }
    ... on MembershipCounts {
      minute entered enteredRange { low high } left leftRange { low high } through
    }
  }
}
"""
WAIT_SECONDS = 20


def _change(person: str, change: str, at: datetime, why: str = "lifecycle") -> NewChange:
    return NewChange("women", person, change, at, why)


def _append(engine: Engine, *changes: NewChange) -> None:
    with engine.begin() as connection:
        live.append_changes(connection=connection, changes=changes)


@pytest.fixture
def women(engine: Engine, shop_run: int) -> str:
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="women", expression="gender:female", by="t"
        )
    return "women"


@pytest.fixture
def server(store_url: str, women: str, tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url, "PORTRAIT_MIN_AUDIENCE": "2"}
    with serving(env, tmp_path / "serve.log") as url:
        yield url


def _subscribed(url: str, key: str, variables: dict[str, Any]) -> Any:
    return subscribed(url, key, CHANGES, variables, wait=WAIT_SECONDS)


def _next(socket: ClientConnection) -> Any:
    message = json.loads(socket.recv(WAIT_SECONDS))
    assert message["type"] == "next", message
    return message["payload"]["data"]["audienceChanges"]


def test_an_analyst_gets_each_change_from_the_log_then_as_it_is_appended(
    server: str, engine: Engine
) -> None:
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    _append(engine, _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))

    with _subscribed(server, key, {"audience": "women", "after": "0"}) as socket:
        from_the_log = _next(socket)
        # Appended by this process after the subscriber has its first change: the server finds
        # it in the log and its broker pushes it.
        _append(engine, _change("p-dee", "left", datetime(2026, 7, 1, 9, 5, tzinfo=UTC), "gender"))
        pushed = _next(socket)

    assert from_the_log == {
        "__typename": "MembershipChange",
        "id": "1",
        "personId": "p-ann",
        "change": "ENTERED",
        "at": "2026-07-01T09:00:00+00:00",
        "why": "lifecycle",
    }
    assert pushed == {
        "__typename": "MembershipChange",
        "id": "2",
        "personId": "p-dee",
        "change": "LEFT",
        "at": "2026-07-01T09:05:00+00:00",
        "why": "gender",
    }
    audited = keys.audit_entries(engine=engine, limit=10)
    assert [(a.key_name, a.person_id, a.query) for a in reversed(audited)] == [
        ("crm", "p-ann", "audienceChanges"),
        ("crm", "p-dee", "audienceChanges"),
    ]


def test_an_operator_gets_counts_per_minute_with_small_ones_as_ranges(
    server: str, engine: Engine
) -> None:
    key, _ = keys.create(engine=engine, role="operator", name="ops")
    _append(
        engine,
        _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, 5, tzinfo=UTC)),
        _change("p-cy", "entered", datetime(2026, 7, 1, 9, 0, 30, tzinfo=UTC)),
        _change("p-dee", "left", datetime(2026, 7, 1, 9, 0, 50, tzinfo=UTC)),
        _change("p-bob", "entered", datetime(2026, 7, 1, 9, 1, 10, tzinfo=UTC)),
    )

    with _subscribed(server, key, {"audience": "women", "after": "0"}) as socket:
        minutes = [_next(socket), _next(socket)]

    hidden = {"low": 0, "high": 1}  # PORTRAIT_MIN_AUDIENCE=2
    assert minutes == [
        {
            "__typename": "MembershipCounts",
            "minute": "2026-07-01T09:00:00+00:00",
            "entered": 2,
            "enteredRange": {"low": 2, "high": 2},
            "left": None,
            "leftRange": hidden,
            "through": "3",
        },
        {
            "__typename": "MembershipCounts",
            "minute": "2026-07-01T09:01:00+00:00",
            "entered": None,
            "enteredRange": hidden,
            "left": None,
            "leftRange": hidden,
            "through": "4",
        },
    ]
    assert keys.audit_entries(engine=engine, limit=10) == []


def test_subscriptions_over_sse_give_the_same_changes(server: str, engine: Engine) -> None:
    key, _ = keys.create(engine=engine, role="admin", name="root")
    _append(engine, _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))
    body = {"query": CHANGES, "variables": {"audience": "women", "after": "0"}}
    headers = {"authorization": f"Bearer {key}", "accept": "text/event-stream"}

    with (
        httpx.Client(base_url=server, timeout=WAIT_SECONDS) as client,
        client.stream("POST", "/graphql", json=body, headers=headers) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        event = next(line for line in lines if line.startswith("event:"))
        data = next(lines)

    assert event == "event: next"
    assert json.loads(data.removeprefix("data: ")) == {
        "data": {
            "audienceChanges": {
                "__typename": "MembershipChange",
                "id": "1",
                "personId": "p-ann",
                "change": "ENTERED",
                "at": "2026-07-01T09:00:00+00:00",
                "why": "lifecycle",
            }
        }
    }


def test_a_subscription_posted_without_a_stream_is_told_how_to_subscribe(
    server: str, engine: Engine, tmp_path: Path
) -> None:
    # GraphiQL POSTs a subscription run within 100 ms of an edit (its fetcher decides by the
    # document it parses 100 ms after the last one), with these Accept headers; strawberry ran
    # it once as a query, which could only answer null ("Unexpected error.").
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    _append(engine, _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))
    body = {"query": CHANGES, "variables": {"audience": "women", "after": "0"}}

    with httpx.Client(base_url=server, timeout=WAIT_SECONDS) as client:
        answers = [
            client.post(
                "/graphql",
                json=body,
                headers={"authorization": f"Bearer {key}", "accept": accept},
            )
            for accept in ("application/json, multipart/mixed", "application/json", "*/*")
        ]

    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"data": None, "errors": [{"message": SUBSCRIBE_WITH_A_STREAM}]})
    ] * 3
    assert keys.audit_entries(engine=engine, limit=10) == []
    assert "unexpected error" not in (tmp_path / "serve.log").read_text()


def test_an_ingest_key_is_refused_before_it_subscribes(server: str, engine: Engine) -> None:
    key, _ = keys.create(engine=engine, role="ingest", name="tracker")
    with (
        pytest.raises(ConnectionClosedError) as refused,
        _subscribed(server, key, {"audience": "women"}),
    ):
        pass
    assert refused.value.rcvd is not None
    assert (refused.value.rcvd.code, refused.value.rcvd.reason) == (
        4403,
        "this key (tracker) is ingest: it may post events (POST /events) and read nothing",
    )


def test_a_websocket_carries_subscriptions_only(server: str, engine: Engine) -> None:
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    with connect(
        server.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"authorization": f"Bearer {key}"},
    ) as socket:
        socket.send(json.dumps({"type": "connection_init"}))
        socket.recv(WAIT_SECONDS)
        query = {"query": '{ profile(userId: "u-1001") { personId } }'}
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        answer = json.loads(socket.recv(WAIT_SECONDS))
    assert answer == {
        "id": "1",
        "type": "error",
        "payload": [
            {
                "message": "only subscriptions go over a WebSocket; POST queries and mutations "
                "to /graphql"
            }
        ],
    }
    assert keys.audit_entries(engine=engine, limit=10) == []


def test_an_unknown_audience_is_an_error_naming_it(server: str, engine: Engine) -> None:
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    with _subscribed(server, key, {"audience": "men"}) as socket:
        answer = json.loads(socket.recv(WAIT_SECONDS))
    assert answer["type"] == "next"
    assert answer["payload"]["errors"][0]["message"] == "there is no saved audience named 'men'"


def test_a_subscription_ends_when_its_key_is_revoked(server: str, engine: Engine) -> None:
    key, row = keys.create(engine=engine, role="analyst", name="crm")
    _append(engine, _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))

    with _subscribed(server, key, {"audience": "women", "after": "0"}) as socket:
        assert _next(socket)["personId"] == "p-ann"
        keys.revoke(engine=engine, key_id=row.id)
        _append(engine, _change("p-dee", "left", datetime(2026, 7, 1, 9, 5, tzinfo=UTC)))
        ended = json.loads(socket.recv(WAIT_SECONDS))

    assert ended["type"] == "next"
    assert ended["payload"]["errors"][0]["message"] == "audienceChanges: this key (crm) was revoked"
    assert [a.person_id for a in keys.audit_entries(engine=engine, limit=10)] == ["p-ann"]


@pytest.mark.parametrize(
    ("sent", "closed"),
    [
        (None, None),
        ("Bearer pk_" + "x" * 43, (4403, "Forbidden")),
        ("", (4403, "Forbidden")),
    ],
    ids=["its-key", "an-unknown-key", "no-key"],
)
def test_a_browser_sends_its_key_in_the_first_message(
    server: str, engine: Engine, sent: str | None, closed: tuple[int, str] | None
) -> None:
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    _append(engine, _change("p-ann", "entered", datetime(2026, 7, 1, 9, 0, tzinfo=UTC)))
    header = f"Bearer {key}" if sent is None else sent
    with connect(
        server.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    ) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": header}}))
        if closed is not None:
            with pytest.raises(ConnectionClosedError) as refused:
                socket.recv(WAIT_SECONDS)
            assert refused.value.rcvd is not None
            assert (refused.value.rcvd.code, refused.value.rcvd.reason) == closed
            return
        assert json.loads(socket.recv(WAIT_SECONDS)) == {"type": "connection_ack"}
        payload = {"query": CHANGES, "variables": {"audience": "women", "after": "0"}}
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        assert _next(socket)["personId"] == "p-ann"
    assert [a.key_name for a in keys.audit_entries(engine=engine, limit=10)] == ["crm"]


BATCHED = """
subscription Changes($audience: String!, $after: ID) {
  audienceChanges(savedAudienceId: $audience, after: $after, batched: true) {
    __typename
    ... on MembershipChanges { changes { id personId change } through }
  }
}
"""


def test_a_batched_subscription_gets_what_was_published_together_in_one_message(
    server: str, engine: Engine
) -> None:
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    at = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    _append(engine, _change("p-ann", "entered", at), _change("p-bea", "entered", at))

    variables = {"audience": "women", "after": "0"}
    with subscribed(server, key, BATCHED, variables, wait=WAIT_SECONDS) as socket:
        from_the_log = _next(socket)
        # One append, one publication: the three come in one message.
        _append(
            engine,
            _change("p-cy", "entered", at),
            _change("p-ann", "left", at),
            _change("p-dee", "entered", at),
        )
        pushed = _next(socket)

    def change(n: int, person: str, kind: str) -> dict[str, str]:
        return {"id": str(n), "personId": person, "change": kind}

    assert from_the_log == {
        "__typename": "MembershipChanges",
        "changes": [change(1, "p-ann", "ENTERED"), change(2, "p-bea", "ENTERED")],
        "through": "2",
    }
    assert pushed == {
        "__typename": "MembershipChanges",
        "changes": [
            change(3, "p-cy", "ENTERED"),
            change(4, "p-ann", "LEFT"),
            change(5, "p-dee", "ENTERED"),
        ],
        "through": "5",
    }
    audited = keys.audit_entries(engine=engine, limit=10)
    assert [a.person_id for a in reversed(audited)] == ["p-ann", "p-bea", "p-cy", "p-ann", "p-dee"]


def test_subscribers_woken_together_are_audited_together_but_a_revoked_key_ends_alone(
    server: str, engine: Engine
) -> None:
    crm, crm_row = keys.create(engine=engine, role="analyst", name="crm")
    bi, _ = keys.create(engine=engine, role="analyst", name="bi")
    at = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    _append(engine, _change("p-ann", "entered", at))

    with (
        _subscribed(server, crm, {"audience": "women", "after": "0"}) as crm_socket,
        _subscribed(server, bi, {"audience": "women", "after": "0"}) as bi_socket,
    ):
        assert _next(crm_socket)["personId"] == _next(bi_socket)["personId"] == "p-ann"
        keys.revoke(engine=engine, key_id=crm_row.id)
        _append(engine, _change("p-dee", "entered", at))
        ended = json.loads(crm_socket.recv(WAIT_SECONDS))
        pushed = _next(bi_socket)

    assert ended["payload"]["errors"][0]["message"] == "audienceChanges: this key (crm) was revoked"
    assert pushed["personId"] == "p-dee"
    audited = keys.audit_entries(engine=engine, limit=10)
    assert sorted((a.key_name, a.person_id) for a in audited) == [
        ("bi", "p-ann"),
        ("bi", "p-dee"),
        ("crm", "p-ann"),
    ]
