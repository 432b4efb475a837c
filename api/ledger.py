"""What each operator key has been told exactly: the persons behind its answers, so that no two
answers can be subtracted to single someone out.

Ranges hide a small count, but not the difference of two large ones: `P OR T` and `P` differ by
the one person `T` describes, whatever the size of the padding `P`. So, as Google Ads Data
Hub's difference check does, every count an operator gets exactly is remembered with the
persons it counted (a roaring bitmap), per key and run; a new answer whose persons differ from
those of an earlier one, asked differently, by fewer than the minimum audience size (by none at
all, too: a refusal only when the difference is 1 to 49 would itself tell) is refused. Asking
the same question again (the same label on the same run) gets the same answer.

A key's memory of a run is bounded: past `max_answers` answers or `max_bytes` of bitmaps, its
further exact answers on that run are refused (a budget, not an eviction, since forgetting an
answer would let it be subtracted again). A new run starts a new memory. The ledger lives in
the worker's memory: a restarted server starts it afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass, field

from pyroaring import BitMap, FrozenBitMap

from store.errors import Forbidden

DEFAULT_MAX_ANSWERS = 5_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass
class _Memory:
    run_id: int
    labels: dict[Hashable, FrozenBitMap] = field(default_factory=dict)
    nbytes: int = 0


class AnswerLedger:
    def __init__(
        self,
        *,
        minimum: int,
        max_answers: int = DEFAULT_MAX_ANSWERS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._minimum = minimum
        self._max_answers = max_answers
        self._max_bytes = max_bytes
        self._memories: dict[int, _Memory] = {}  # key id -> what it was told on one run
        self._lock = threading.Lock()  # SQL answers are checked on worker threads

    def admit(self, *, key_id: int, run_id: int, label: Hashable, persons: BitMap) -> None:
        """Remember an exact answer about `persons`; Forbidden if it may not be given."""
        with self._lock:
            memory = self._memories.get(key_id)
            if memory is None or memory.run_id != run_id:
                memory = self._memories[key_id] = _Memory(run_id)
            if label in memory.labels:
                return
            self._check(memory, persons)
            size = len(persons.serialize())
            if len(memory.labels) >= self._max_answers or memory.nbytes + size > self._max_bytes:
                raise Forbidden(
                    f"this key has had all the exact answers it may get on run {run_id} "
                    f"({len(memory.labels)}); ask an analyst, or ask again after the next run"
                )
            memory.labels[label] = FrozenBitMap(persons)
            memory.nbytes += size

    def _check(self, memory: _Memory, persons: BitMap) -> None:
        size, minimum = len(persons), self._minimum
        for earlier in memory.labels.values():
            # Two sets whose sizes are `minimum` apart differ by at least that many persons.
            near = abs(len(earlier) - size) < minimum
            if near and persons.symmetric_difference_cardinality(earlier) < minimum:
                raise Forbidden(
                    "this answer and an earlier one of this key differ by fewer than "
                    f"{minimum} persons (the minimum audience size), so together they would "
                    "single persons out; this role gets it only as a range"
                )
