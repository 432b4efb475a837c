"""A request body size limit, so one client cannot make the server buffer megabytes.

GraphQL documents are small: the largest legitimate one (a 100-id `profiles` batch with every
field) is a few KiB, so the default allows 64 KiB.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodySizeLimit:
    """Answer 413 to a request whose body is, or turns out to be, larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await PlainTextResponse(self._too_large(), status_code=413)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            # A chunked body declares no length: count what actually arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status_code=413, detail=self._too_large())
            return message

        await self.app(scope, receive_within_limit, send)
