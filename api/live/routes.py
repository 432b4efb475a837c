"""`POST /events`: an ingest (or admin) key posts events and orders; the answer comes once they
are durably stored (`api.live.ingest`)."""

from __future__ import annotations

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.auth import authenticate
from api.live.ingest import read_body
from store.errors import StoreBusy

POSTING_ROLES = ("ingest", "admin")


async def post_events(request: Request) -> JSONResponse:
    state = request.state
    key = authenticate(
        request,
        cache=state.keys,
        require_keys=state.settings.is_production,
        posting_events=True,
    )
    if key is not None and key.role not in POSTING_ROLES:
        raise HTTPException(
            403,
            detail=f"posting events needs the ingest or admin role; this key ({key.name}) "
            f"is {key.role}",
        )
    try:
        items, unreadable = read_body(await request.body(), request.headers.get("content-type", ""))
    except orjson.JSONDecodeError as error:
        raise HTTPException(
            400,
            detail=f"the body is not JSON ({error}); send a JSON array of events, or JSON "
            "lines with content-type application/x-ndjson",
        ) from None
    per_minute = state.settings.ingest_events_per_minute
    if len(items) > per_minute:
        raise HTTPException(
            413,
            detail=f"{len(items)} events in one request is more than a key may post in a "
            f"minute (PORTRAIT_INGEST_EVENTS_PER_MINUTE={per_minute}); split the request",
        )
    retry = state.live.budget.take(0 if key is None else key.id, len(items))
    if retry:
        raise HTTPException(
            429,
            detail=f"this key posted its events for now (PORTRAIT_INGEST_EVENTS_PER_MINUTE="
            f"{per_minute}); nothing of this request was stored, retry after {retry} s",
            headers={"Retry-After": str(retry)},
        )
    try:
        answer = await run_in_threadpool(state.live.ingest.take, items, unreadable)
    except StoreBusy as error:
        raise HTTPException(503, detail=str(error), headers={"Retry-After": "5"}) from None
    return JSONResponse(answer)


def routes() -> list[Route]:
    return [Route("/events", post_events, methods=["POST"])]
