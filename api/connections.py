"""What one client may hold of the server before it has sent a request: uvicorn's httptools
protocol with a limit on header bytes, read timeouts, and a cap of connections per address.

uvicorn bounds none of these: a request head of megabytes is buffered whole, and a socket that
sends nothing (or half a head) stays open for ever and counts toward `limit_concurrency`, so a
handful of idle sockets made every other client get 503.

- a request head (request line and headers) over `max_header_bytes` gets 431 and is closed;
- a head not complete within `header_seconds` of the connection (or of the request's first
  byte), or a body not complete within `body_seconds` of its head, closes the connection;
- a client address holding `per_client` connections gets 503 on the next one, which is closed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_MAX_HEADER_BYTES = 16 * 1024
DEFAULT_HEADER_SECONDS = 10.0
DEFAULT_BODY_SECONDS = 10.0
DEFAULT_PER_CLIENT = 16


@dataclass
class ConnectionLimits:
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_seconds: float = DEFAULT_HEADER_SECONDS
    body_seconds: float = DEFAULT_BODY_SECONDS
    per_client: int = DEFAULT_PER_CLIENT
    open_by_client: Counter[str] = field(default_factory=Counter)


def _response(status: bytes, message: str) -> bytes:
    body = message.encode()
    head = f"content-type: text/plain; charset=utf-8\r\ncontent-length: {len(body)}\r\n"
    return b"HTTP/1.1 " + status + b"\r\n" + head.encode() + b"connection: close\r\n\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol within `limits` (a subclass per server sets them: `protocol_with`)."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes: int | None = 0  # None while a body is read (or the head is complete)
        self._deadline: asyncio.TimerHandle | None = None
        self._address: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else None
        if address is not None and self.limits.open_by_client[address] >= self.limits.per_client:
            message = f"more than {self.limits.per_client} open connections from {address}"
            transport.write(_response(b"503 Service Unavailable", message))
            transport.close()
            return
        if address is not None:
            self._address = address
            self.limits.open_by_client[address] += 1
        self._expect_within(self.limits.header_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._address is not None:
            self.limits.open_by_client[self._address] -= 1
            if self.limits.open_by_client[self._address] <= 0:
                del self.limits.open_by_client[self._address]
            self._address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_bytes is None or self.transport.is_closing():
            return
        # Still in a request head after this chunk: it all counts toward the head's size.
        self._head_bytes += len(data)
        if self._head_bytes > self.limits.max_header_bytes:
            message = f"request headers are larger than {self.limits.max_header_bytes} bytes"
            self.transport.write(_response(b"431 Request Header Fields Too Large", message))
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._expect_within(self.limits.header_seconds)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._expect_within(self.limits.body_seconds)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def _expect_within(self, seconds: float) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_with(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn builds for each connection, bound to one server's limits."""
    return type("PortraitHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})
