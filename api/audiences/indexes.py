"""The bitmap indexes of the runs being read, loaded from the store in a worker thread.

A run's bitmaps are stored as they are (`store.audiences.bitmaps`), so loading one deserializes them
(about a second at a million persons) and a request simply waits for it. The current run's
index is loaded at startup; older runs' (time travel, diffs) when first asked for, and the
least recently used of those are dropped beyond `kept`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine

from store.audiences.index import AudienceIndex, load_index

log = logging.getLogger(__name__)
KEPT_RUNS = 4  # indexes held in memory: the current run's and the last few others asked for


class AudienceIndexes:
    def __init__(self, *, engine: Engine, kept: int = KEPT_RUNS) -> None:
        self._engine = engine
        self._kept = kept
        self._indexes: OrderedDict[int, AudienceIndex] = OrderedDict()
        # Loads under way, by run and size.
        self._loading: dict[tuple[int, int], asyncio.Future[AudienceIndex]] = {}
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audience-index")

    async def get(self, run_id: int, persons: int) -> AudienceIndex:
        """The run's index, loaded first if need be.

        `persons` is the run's size as the store has it now: an index of another size is
        stale (a person was forgotten since it was loaded, maybe by another worker) and is
        loaded again.
        """
        index = self._indexes.get(run_id)
        if index is not None and index.persons == persons:
            self._indexes.move_to_end(run_id)
            return index
        return await asyncio.shield(self._start(run_id, persons))

    def warm(self, run_id: int | None, persons: int) -> None:
        """Start loading the index of `run_id` (the current run at startup), if there is one."""
        if run_id is not None:
            self._start(run_id, persons)

    def _start(self, run_id: int, persons: int) -> asyncio.Future[AudienceIndex]:
        found = self._loading.get((run_id, persons))
        if found is not None:
            return found
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._load, run_id)
        future.add_done_callback(lambda done: self._finished(run_id, persons, done))
        self._loading[run_id, persons] = future
        return future

    def _load(self, run_id: int) -> AudienceIndex:
        with self._engine.connect() as connection:
            return load_index(connection=connection, run_id=run_id)

    def _finished(self, run_id: int, persons: int, future: asyncio.Future[AudienceIndex]) -> None:
        self._loading.pop((run_id, persons), None)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("loading the audience index of run %s failed", run_id, exc_info=error)
            return
        index = future.result()
        self._indexes[run_id] = index
        self._indexes.move_to_end(run_id)
        newest = max(self._indexes)
        while len(self._indexes) > self._kept:
            # The least recently used, but never the newest run's.
            oldest = next(r for r in self._indexes if r != newest)
            del self._indexes[oldest]
        log.info(
            "audience index of run %s: %s persons in %.2f s",
            run_id,
            index.persons,
            index.build_seconds,
        )

    async def close(self) -> None:
        """Wait for a load under way (its connection must go back before the engine is
        disposed), off the loop; loads not yet started are cancelled."""
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
