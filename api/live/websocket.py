"""Subscriptions over WebSocket (graphql-transport-ws), and nothing else over it.

Queries and mutations are POSTed: the view's per-request work (the in-flight bound, the audit
log of person reads, closing the store connection) runs for HTTP requests only, so a profile
read over a WebSocket would go unaudited.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from api.context import Context

ONLY_SUBSCRIPTIONS = (
    "only subscriptions go over a WebSocket; POST queries and mutations to /graphql"
)


class SubscriptionsOnly(BaseGraphQLTransportWSHandler[Context, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and not _is_subscription(message):
            error = GraphQLError(ONLY_SUBSCRIPTIONS)
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)


def _is_subscription(message: SubscribeMessage) -> bool:
    payload = message["payload"]
    try:
        operation = get_operation_ast(parse(payload["query"]), payload.get("operationName"))
    except GraphQLError:
        return True  # strawberry answers the syntax error itself
    return operation is None or operation.operation == OperationType.SUBSCRIPTION


class TextFrames(ASGIWebSocketAdapter):
    """Messages as text frames: the view's JSON is orjson's bytes, which strawberry would send
    as binary frames, and a browser's graphql-ws client reads those as no message at all."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as gone:
            raise WebSocketDisconnected from gone
