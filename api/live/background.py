"""Store work of the live path's background tasks, on a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


async def on_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function` on a worker thread; a task cancelled meanwhile (the app stopping) waits for it
    to end before it stops: cancelling the task does not stop the thread, which would give its
    store connection back after the engine was disposed, to a pool nobody closes."""
    work = asyncio.ensure_future(run_in_threadpool(function, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
