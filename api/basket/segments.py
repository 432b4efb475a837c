"""Basket rules of one audience, mined when someone asks and kept per run.

Mining a segment reads the run's baskets (kept with the run as Parquet), keeps the baskets of
the audience's persons and mines them as the run mined all of them, with the run's own
parameters. Results are cached by run, level and the expression written out canonically, so
asking again costs nothing; the least recently used fall out past CACHED_SEGMENTS. Mining
blocks for up to seconds: callers run it off the event loop.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy.engine import Engine

from store import basket as basket_queries
from store.basket import RuleRow
from store.errors import NotFound
from tagging.basket import BasketParams, mine_segment, read_baskets

CACHED_SEGMENTS = 64


class SegmentRules:
    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine
        # Keyed by the run and its size: forgetting a person changes both its baskets and size.
        self._rules: OrderedDict[tuple[int, int, str, str], list[RuleRow]] = OrderedDict()
        self._baskets: tuple[tuple[int, int], pa.Table] | None = None
        self._lock = threading.Lock()  # one mining at a time: each one uses both cores

    def rules(
        self,
        *,
        run_id: int,
        size: int,
        level: str,
        audience: str,
        persons: Callable[[], np.ndarray],
        params: dict[str, Any] | None,
    ) -> list[RuleRow]:
        """The audience's rules at `level`, strongest first (cached per run)."""
        key = (run_id, size, level, audience)
        with self._lock:
            if key in self._rules:
                self._rules.move_to_end(key)
                return self._rules[key]
            mined = mine_segment(
                self._baskets_of(run_id, size),
                persons(),
                BasketParams(**params) if params else BasketParams(),
                level=level,
            )
            rows = _rule_rows(mined.rules, level)
            self._rules[key] = rows
            while len(self._rules) > CACHED_SEGMENTS:
                self._rules.popitem(last=False)
            return rows

    def _baskets_of(self, run_id: int, size: int) -> pa.Table:
        if self._baskets is None or self._baskets[0] != (run_id, size):
            with self._engine.connect() as connection:
                content = basket_queries.baskets_file(connection=connection, run_id=run_id)
            if content is None:
                raise NotFound(
                    f"run {run_id} kept no baskets (it predates segment rules); run tagging again"
                )
            self._baskets = ((run_id, size), read_baskets(content))
        return self._baskets[1]


def _rule_rows(rules: pd.DataFrame, level: str) -> list[RuleRow]:
    """Mined rules as the store's rule rows, ranked as a run ranks them."""
    return [
        RuleRow(
            level=level,
            rank=rank,
            antecedents=list(rule["antecedents"]),
            consequents=list(rule["consequents"]),
            antecedent_support=float(rule["antecedent_support"]),
            consequent_support=float(rule["consequent_support"]),
            support=float(rule["support"]),
            confidence=float(rule["confidence"]),
            lift=float(rule["lift"]),
            leverage=float(rule["leverage"]),
            conviction=None if pd.isna(rule["conviction"]) else float(rule["conviction"]),
        )
        for rank, rule in enumerate(rules.to_dict("records"), start=1)
    ]
