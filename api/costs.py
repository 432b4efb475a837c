"""Heavy work (audiences evaluated in SQL, rules mined inside an audience, conversion scans) on
a lane of its own, within budgets, so that it cannot stall the API.

Without it, four connections asking for fifteen minings each held every in-flight slot of the
worker and a `health` probe waited seconds behind them. Now:

- heavy work runs on threads of its own (`HeavyLane`), and a request waiting for it gives its
  in-flight slot back meanwhile: cheap questions never queue behind expensive ones;
- one request may ask for `per_request` pieces of heavy work; past that, each further piece
  is an error naming the limit;
- each key has `seconds_per_minute` seconds of heavy work a minute (a bucket that refills
  continuously); a key past it gets 429 with `Retry-After` until it is back in credit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from store.errors import InputError

DEFAULT_SECONDS_PER_MINUTE = 30.0
DEFAULT_PER_REQUEST = 32
WORKERS = 2  # the machine's cores: heavy work may use both, and nothing else waits for it
T = TypeVar("T")


class HeavyLane:
    def __init__(
        self,
        *,
        seconds_per_minute: float = DEFAULT_SECONDS_PER_MINUTE,
        per_request: int = DEFAULT_PER_REQUEST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_request = per_request
        self._capacity = seconds_per_minute
        self._rate = seconds_per_minute / 60  # seconds of credit back per second
        self._clock = clock
        self._balances: dict[int, tuple[float, float]] = {}  # key id -> (credit, as of)
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="heavy-work")

    def _credit(self, key_id: int) -> float:
        credit, at = self._balances.get(key_id, (self._capacity, self._clock()))
        return min(self._capacity, credit + (self._clock() - at) * self._rate)

    def retry_after(self, key_id: int) -> int:
        """Whole seconds until the key may ask for heavy work again; 0 when it may now."""
        credit = self._credit(key_id)
        return 0 if credit >= 0 else math.ceil(-credit / self._rate)

    def charge(self, key_id: int, seconds: float) -> None:
        self._balances[key_id] = (self._credit(key_id) - seconds, self._clock())

    async def run(self, work: Callable[[], T]) -> tuple[T, float]:
        """`work` on the lane's thread, and the seconds it took there."""

        def timed() -> tuple[T, float]:
            started = time.perf_counter()
            return work(), time.perf_counter() - started

        return await asyncio.get_running_loop().run_in_executor(self._executor, timed)

    async def close(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)


@dataclass
class RequestWork:
    """One request's share of the lane: its key, its in-flight slot, the pieces it asked."""

    lane: HeavyLane
    key_id: int
    in_flight: asyncio.Semaphore | None = None
    pieces: int = 0


current: ContextVar[RequestWork | None] = ContextVar("portrait_request_work", default=None)


async def heavy(work: Callable[[], T]) -> T:
    """Run heavy work for the current request on the lane, within its budgets."""
    request = current.get()
    if request is None:  # outside a request (the command line)
        return await run_in_threadpool(work)
    request.pieces += 1
    if request.pieces > request.lane.per_request:
        raise InputError(
            f"this request asks for more than {request.lane.per_request} evaluations that read "
            "the store or mine rules (PORTRAIT_HEAVY_PER_REQUEST); split it into several"
        )
    if request.in_flight is not None:
        request.in_flight.release()  # others may run while this one waits for the lane
    try:
        result, seconds = await request.lane.run(work)
    finally:
        if request.in_flight is not None:
            await request.in_flight.acquire()
    request.lane.charge(request.key_id, seconds)
    return result
