"""Run the API under uvicorn: one worker, uvloop and httptools, bounded concurrency, and the
connection limits of `api.connections`."""

from __future__ import annotations

import gc

import uvicorn

from api.app import create_app
from api.connections import ConnectionLimits, protocol_with
from api.live.steps import StepProcess, in_own_process
from store.settings import Settings
from tagging.live.incremental import LiveTags

# One worker holds one event loop; past this many open connections and in-flight requests it
# answers 503 at once instead of letting every client's latency grow without bound.
DEFAULT_LIMIT_CONCURRENCY = 128
# Container objects allocated between two young collections (Python's default is 700). A
# response builds tens of thousands (a batch of 100 profiles ~50,000) that all live until it
# is sent: at 700, collections keep finding them alive and promote them until full
# collections walk them. At 20,000 most are gone before a collection looks: ~17% fewer CPU
# seconds for a batch of 100 profiles, for at most a few MB more memory before cycles go.
YOUNG_COLLECTION_THRESHOLD = 20_000


def serve(
    *,
    settings: Settings,
    host: str,
    port: int,
    limit_concurrency: int = DEFAULT_LIMIT_CONCURRENCY,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_seconds=settings.header_timeout_seconds,
        body_seconds=settings.body_timeout_seconds,
        per_client=settings.connections_per_client,
    )
    # Live events update the tags of the persons they touch (tagging.live.incremental), in a
    # process of their own where the store allows (api.live.steps).
    live_tags: LiveTags | StepProcess
    if in_own_process(settings.database_url):
        live_tags = StepProcess(database_url=settings.database_url, id_key=settings.id_key)
    else:
        live_tags = LiveTags(id_key=settings.id_key)
    config = uvicorn.Config(
        create_app(
            settings,
            incremental=live_tags,
            sweep=live_tags.sweep,
            live_persons=live_tags.live_persons,
        ),
        host=host,
        port=port,
        loop="uvloop",
        http=protocol_with(limits),
        workers=1,
        limit_concurrency=limit_concurrency,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    # Everything imported and built so far lives as long as the process: keep the cyclic
    # garbage collector from walking it again and again under load (~20% more requests/s).
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
    print(f"Portrait GraphQL API on http://{host}:{port}/graphql", flush=True)
    print(f"The persona report on http://{host}:{port}/report", flush=True)
    try:
        uvicorn.Server(config).run()
    finally:
        live_tags.close()
