"""The Starlette application: GraphQL at /graphql (subscriptions over WebSocket and SSE too),
events in at /events, liveness at /healthz, the persona report at /report, and GraphiQL's own
files at /playground/static (development only, as GraphiQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypedDict

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from api.audiences.indexes import AudienceIndexes
from api.auth import KeyCache
from api.basket.segments import SegmentRules
from api.costs import HeavyLane
from api.ledger import AnswerLedger
from api.limits import BodySizeLimit
from api.live import routes as live_routes
from api.live.feed import Incremental, Sweep
from api.live.service import Live, LivePersons, running
from api.playground import assets as playground
from api.report import access as report
from api.runs.starter import RunStarter
from api.schema import build_schema
from api.tags.kinds import TagKinds
from api.view import PortraitGraphQL
from store import suppressions
from store.db import make_engine
from store.runs import reads as run_reads
from store.settings import Settings


class State(TypedDict):
    engine: Engine
    indexes: AudienceIndexes
    segments: SegmentRules
    settings: Settings
    starter: RunStarter
    kinds: TagKinds
    keys: KeyCache
    ledger: AnswerLedger
    lane: HeavyLane
    live: Live


async def healthz(request: Request) -> JSONResponse:
    """Up, and the committed run being served (null on an empty store)."""
    try:
        with request.state.engine.connect() as connection:
            run = run_reads.current_run(connection=connection)
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "run_id": None}, status_code=503)
    return JSONResponse({"status": "ok", "run_id": None if run is None else run.id})


def create_app(
    settings: Settings | None = None,
    *,
    incremental: Incremental | None = None,
    sweep: Sweep | None = None,
    live_persons: LivePersons | None = None,
) -> Starlette:
    """The API over the store `settings` names; the engine lives as long as the app runs.
    `incremental` updates tags from live events and `sweep` applies the turn of a day
    (api.live.feed), `live_persons` says who has live tags (profiles read theirs); without
    them events are stored and wait for the next run."""
    settings = Settings.from_env() if settings is None else settings

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[State]:
        engine = make_engine(settings.database_url)
        indexes = AudienceIndexes(engine=engine)
        lane = HeavyLane(
            seconds_per_minute=settings.work_seconds_per_minute,
            per_request=settings.heavy_per_request,
        )
        with engine.connect() as connection:
            run = run_reads.current_run(connection=connection)
            if suppressions.upgrade(connection=connection):
                connection.commit()
        if run is not None:
            indexes.warm(run.id, run.persons)
        live_parts = AsyncExitStack()
        live = await live_parts.enter_async_context(
            running(
                engine=engine,
                settings=settings,
                incremental=incremental,
                sweep=sweep,
                live_persons=live_persons,
            )
        )
        try:
            yield {
                "engine": engine,
                "indexes": indexes,
                "segments": SegmentRules(engine=engine),
                "settings": settings,
                "starter": RunStarter(settings=settings, engine=engine),
                "kinds": TagKinds(),
                "keys": KeyCache(engine=engine, seconds=settings.key_cache_seconds),
                "lane": lane,
                "ledger": AnswerLedger(
                    minimum=settings.min_audience, max_answers=settings.operator_answers
                ),
                "live": live,
            }
        finally:
            await live_parts.aclose()
            await indexes.close()
            await lane.close()
            engine.dispose()

    production = settings.is_production
    graphql = PortraitGraphQL(
        build_schema(production=production), graphql_ide=not production, require_keys=production
    )
    playground_files = [Route("/playground/static/{name}", playground.static_file)]
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz, methods=["GET"]),
            *live_routes.routes(),
            *report.routes(),
            *([] if production else playground_files),
        ],
        middleware=[Middleware(BodySizeLimit)],
        lifespan=lifespan,
    )
