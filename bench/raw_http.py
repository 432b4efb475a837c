"""A minimal keep-alive HTTP/1.1 client for load generation: asyncio + httptools.

httpx parses HTTP in pure Python (h11): 0.8-1.7 ms of client CPU per request here, which on a
2-core box caps the load near what one server worker does (~600 requests/s on the health
query with a whole core). This client needs ~0.03 ms per request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import httptools
import httpx


class _RawConnection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def post(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.chunks = []
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class RawClient:
    """POSTs GraphQL to /graphql over one connection, reconnecting when the server closes it."""

    def __init__(self, url: str) -> None:
        self.host, port = httpx.URL(url).host, httpx.URL(url).port
        assert port is not None
        self.port = port
        self.connection: _RawConnection | None = None

    async def post(self, payload: dict[str, Any]) -> tuple[int, bytes]:
        if self.connection is None or self.connection.transport is None:
            _, self.connection = await asyncio.get_running_loop().create_connection(
                _RawConnection, self.host, self.port
            )
        body = json.dumps(payload).encode()
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        return await self.connection.post(head.encode() + body)

    def close(self) -> None:
        if self.connection is not None and self.connection.transport is not None:
            self.connection.transport.close()
