"""Drive the ASGI app in process as a server would: lifespan first, then HTTP requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.sync.client import ClientConnection, connect

from api.app import create_app
from store import keys
from store.settings import Settings

BASE_URL = "http://portrait.test"


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[ASGIApp]:
    """Run `app`'s lifespan, and yield an app that hands each request the lifespan state."""
    state: dict[str, Any] = {}
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": state}

    async def run_lifespan() -> None:
        await app(scope, to_app.get, from_app.put)

    lifespan = asyncio.create_task(run_lifespan())
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    assert started["type"] == "lifespan.startup.complete", started

    async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
        # Servers give each request a shallow copy of the state the lifespan set up.
        await app({**scope, "state": dict(state)}, receive, send)

    try:
        yield with_state
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await from_app.get()
        await lifespan
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@asynccontextmanager
async def client_for(app: ASGIApp, *, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of `app`, sending `key` as `Authorization: Bearer` when given."""
    headers = {} if key is None else {"authorization": f"Bearer {key}"}
    async with serving(app) as running:
        transport = httpx.ASGITransport(app=running)
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE_URL, headers=headers
        ) as client:
            yield client


@asynccontextmanager
async def client_as(
    settings: Settings, engine: Engine, *, role: str, name: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over `settings` with a new key of `role` (named `{role}-team`);
    `engine` is the same store's."""
    key, _ = keys.create(engine=engine, role=role, name=name or f"{role}-team")
    async with client_for(create_app(settings), key=key) as client:
        yield client


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    """POST one GraphQL document; the decoded response (HTTP 200 expected)."""
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@contextmanager
def subscribed(
    url: str, key: str, query: str, variables: dict[str, Any], *, wait: float = 30
) -> Iterator[ClientConnection]:
    """A WebSocket (graphql-transport-ws) to `portrait serve` at `url` as `key`, acknowledged,
    with `query` subscribed as id "1"."""
    with connect(
        url.replace("http://", "ws://") + "/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"authorization": f"Bearer {key}"},
    ) as socket:
        socket.send(json.dumps({"type": "connection_init"}))
        assert json.loads(socket.recv(wait)) == {"type": "connection_ack"}
        payload = {"query": query, "variables": variables}
        socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        yield socket
