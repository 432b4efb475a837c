"""strawberry's ASGI GraphQL view, with Portrait's per-request context and in-flight bound."""

from __future__ import annotations

import asyncio

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLRequestData
from strawberry.http.async_base_view import AsyncHTTPRequestAdapter
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_SSE_PROTOCOL, GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult, SubscriptionExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from api import costs
from api.auth import authenticate, authenticate_header
from api.context import Context
from api.live.websocket import SubscriptionsOnly, TextFrames
from api.playground import assets as playground

# One worker is one thread: more operations in flight add no throughput, only interleaving
# (each one's latency grows with the others'). Waiting operations queue in arrival order.
# Each in-flight operation holds one store connection; staying under the store's pool size (5)
# keeps connections, and SQLite's per-connection page cache, alive between requests instead of
# opening overflow connections with cold caches (~2x slower profiles when that happened).
MAX_IN_FLIGHT = 4
# Requests holding a store connection: those in flight and those parked while heavy work runs
# for them (api.costs gives their slot back meanwhile). Bounded under the pool's 15 (5 + 10
# overflow): unbounded, sixteen readers while the index rebuilt after a run waited out the
# pool's 30 s for a connection. Past it, a request queues before it opens one.
MAX_ADMITTED = 12


class PortraitGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = SubscriptionsOnly
    websocket_adapter_class = TextFrames

    def __init__(
        self,
        schema: BaseSchema,
        *,
        graphql_ide: bool,
        require_keys: bool,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        # Subscriptions over graphql-transport-ws (subscriptions only: api.live.websocket) and
        # SSE; they hold no store connection while they wait (api.live.resolvers).
        # Queries only over POST: a GET query can be triggered cross-site and cached by proxies
        # (the GraphiQL page itself is still served on GET).
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphql_ide else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_SSE_PROTOCOL),
        )
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._admitted = asyncio.Semaphore(MAX_ADMITTED)
        self._require_keys = require_keys

    @property
    def graphql_ide_html(self) -> str:
        # Portrait's own GraphiQL page: its scripts come from the app, not from a CDN.
        return playground.page()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        state = request.state
        context = Context(
            engine=state.engine,
            indexes=state.indexes,
            segments=state.segments,
            settings=state.settings,
            starter=state.starter,
            kinds=state.kinds,
            ledger=state.ledger,
            key_cache=state.keys,
            live=state.live,
        )
        if request.scope.get("method") == "GET":
            # GET only serves the GraphiQL page (queries by GET are refused before they run,
            # see allow_queries_via_get): a browser cannot send the key to load the page.
            return context
        if isinstance(request, WebSocket) and "authorization" not in request.headers:
            # A browser cannot set a WebSocket's headers: its key comes in the first message.
            context.awaiting_key = True
            return context
        # The cache reads the store on its own short connection: the request's one is only
        # closed by execute_operation, which a request failing before it never reaches.
        try:
            context.key = authenticate(request, cache=state.keys, require_keys=self._require_keys)
        except HTTPException as refused:
            if isinstance(request, WebSocket):  # closed with 4403 and the reason
                raise WebSocketException(4403, reason=refused.detail) from None
            raise
        key_id = 0 if context.key is None else context.key.id
        retry = state.lane.retry_after(key_id)
        if retry:
            raise HTTPException(
                429,
                detail=f"this key used its heavy work for now (PORTRAIT_WORK_SECONDS_PER_MINUTE); "
                f"retry after {retry} s",
                headers={"Retry-After": str(retry)},
            )
        costs.current.set(costs.RequestWork(lane=state.lane, key_id=key_id))
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """The key of a WebSocket that sent no Authorization header, from its connection_init
        payload (`{"Authorization": "Bearer KEY"}`: GraphiQL sends its Headers tab there)."""
        if context.awaiting_key:
            params = context.connection_params or {}
            header = params.get("Authorization", params.get("authorization", ""))
            try:
                context.key = authenticate_header(
                    str(header), cache=context.key_cache, require_keys=self._require_keys
                )
            except HTTPException as refused:
                raise ConnectionRejectionError({"message": refused.detail}) from None
            context.awaiting_key = False
        return UNSET

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        async with self._admitted, self._in_flight:
            work = costs.current.get()
            if work is not None:  # heavy work gives the slot back while it waits (api.costs)
                work.in_flight = self._in_flight
            try:
                return await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
            finally:
                if context.audits:
                    # On a thread: the audit write may wait for the store (PostgreSQL's locks,
                    # a busy SQLite file), and the event loop serves everyone else meanwhile.
                    await run_in_threadpool(context.close)
                else:
                    context.close()  # no thread hop for the requests that read no person

    def decode_json(self, data: str | bytes) -> object:
        # orjson: a quarter of the standard library's time on both ways, and its
        # JSONDecodeError is json's, which strawberry turns into a 400.
        document = orjson.loads(data)
        # strawberry expects an object (or a batch list); anything else would fail deep
        # inside it with a 500 instead of telling the client what is wrong.
        if not isinstance(document, dict | list):
            raise HTTPException(400, detail="The request body must be a JSON object")
        return document

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
