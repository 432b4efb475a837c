"""strawberry's ASGI GraphQL view, with Portrait's per-request context."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from api.context import Context, build_context


class PortraitGraphQL(GraphQL[Context, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return build_context(engine=request.state.engine)

    def decode_json(self, data: str | bytes) -> object:
        document = super().decode_json(data)
        # strawberry expects an object (or a batch list); anything else would fail deep
        # inside it with a 500 instead of telling the client what is wrong.
        if not isinstance(document, dict | list):
            raise HTTPException(400, detail="The request body must be a JSON object")
        return document
