"""The bitmap index of the run being served, built in a worker thread.

Building takes seconds for a large run (about 18 s at a million persons), so a request never
waits for it: until the index of the request's run is ready, audiences are answered by SQL
(the same answers, slower), and the request that first sees a new run starts its build. The
previous run's index is dropped once the new one is in place. `wait` mode (tests, small
stores, the command line) makes the first request wait instead; `off` always uses SQL.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from store.audience_index import AudienceIndex, build_index

log = logging.getLogger(__name__)


class AudienceIndexes:
    def __init__(self, *, engine: Engine, mode: str) -> None:
        self._engine = engine
        self._mode = mode
        self._index: AudienceIndex | None = None
        # The build under way: of which run, at which size, and its future.
        self._building: tuple[tuple[int, int], asyncio.Future[AudienceIndex]] | None = None
        self._failed: set[int] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience-index")

    async def get(self, run_id: int, persons: int) -> AudienceIndex | None:
        """The run's index if it is ready (or, in `wait` mode, once it is); None means SQL.

        `persons` is the run's size as the store has it now: an index of another size is
        stale (a person was forgotten since it was built, maybe by another worker) and is
        built again.
        """
        if self._index is not None and self._index.run_id == run_id:
            if self._index.persons == persons:
                return self._index
            self._index = None
        if self._mode == "off" or run_id in self._failed:
            return None
        future = self._start(run_id, persons)
        if self._mode == "wait":
            return await asyncio.shield(future)
        return None

    def warm(self, run_id: int | None, persons: int) -> None:
        """Start building the index of `run_id` (the current run at startup), if there is one."""
        if run_id is not None and self._mode != "off":
            self._start(run_id, persons)

    def _start(self, run_id: int, persons: int) -> asyncio.Future[AudienceIndex]:
        if self._building is not None and self._building[0] == (run_id, persons):
            return self._building[1]
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._build, run_id)
        future.add_done_callback(lambda done: self._finished(run_id, done))
        self._building = ((run_id, persons), future)
        return future

    def _build(self, run_id: int) -> AudienceIndex:
        with self._engine.connect() as connection:
            return build_index(connection=connection, run_id=run_id)

    def _finished(self, run_id: int, future: asyncio.Future[AudienceIndex]) -> None:
        if self._building is not None and self._building[1] is future:
            self._building = None
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            # Not retried for this run: SQL keeps answering, and the log says why.
            self._failed.add(run_id)
            log.error("building the audience index of run %s failed", run_id, exc_info=error)
            return
        index = future.result()
        if self._index is None or index.run_id >= self._index.run_id:
            self._index = index
            log.info(
                "audience index of run %s: %s persons in %.1f s",
                run_id,
                index.persons,
                index.build_seconds,
            )

    async def close(self) -> None:
        """Wait for a build under way (its connection must go back before the engine is
        disposed), off the loop; builds not yet started are cancelled."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
