"""Each run's tag kinds by key, read once per worker.

A profile's tags show their key's kind. Joining every tag row to the run's catalog doubled the
read of a batch of profiles, and a committed run's catalog never changes, so the few dozen
(key, kind) pairs of a run are read on its first profile and kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from api.tags.types import TagKind
from store import catalog
from store.runs.reads import RunRow

# Runs a worker keeps kinds for: the current one, and a few a request may still name.
KEPT_RUNS = 8


class TagKinds:
    def __init__(self) -> None:
        # By id and start: a store rebuilt under a running server may reuse a run id.
        self._by_run: dict[tuple[int, datetime], dict[str, TagKind]] = {}

    def of(self, run: RunRow, *, connection: Connection) -> Mapping[str, TagKind]:
        """The kind of each key in `run`'s catalog."""
        key = (run.id, run.started_at)
        kinds = self._by_run.get(key)
        if kinds is None:
            stored = catalog.tag_kinds(connection=connection, run_id=run.id)
            kinds = {k: TagKind.from_store(kind) for k, kind in stored.items()}
            if len(self._by_run) >= KEPT_RUNS:
                del self._by_run[next(iter(self._by_run))]  # the one read longest ago
            self._by_run[key] = kinds
        return kinds
