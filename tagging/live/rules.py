"""The maintained tags of live persons, by the batch run's own tag rules (`tagging.tags`) run
on DuckDB over a small feature table of just those persons."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from tagging import tags
from tagging.identity import PERSON as P
from tagging.tags import LifecycleParams

# The keys the live path maintains: the rules below give them, from the features in FEATURES.
MAINTAINED = (
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_segment",
    "recency_days",
    "frequency",
    "monetary",
    "lifecycle",
    "value_segment",
)
# Typed as a run's feature table types them (counts and days are integers there).
FEATURES = pa.schema(
    [
        (P, pa.int64()),
        ("frequency", pa.int64()),
        ("monetary", pa.float64()),
        ("recency_days", pa.int64()),
        ("first_order_days", pa.int64()),
        ("last_gap_days", pa.int64()),
        ("tenure_days", pa.int64()),
        ("r_score", pa.int64()),
        ("f_score", pa.int64()),
        ("m_score", pa.int64()),
    ]
)
Tags = dict[str, list[tuple[str, float | None]]]
TABLE = "live_features"  # the name the compiled SQL reads the features under


class TagRules:
    """The run's rfm, lifecycle and value segment rules on an in-process DuckDB connection,
    compiled to SQL once per set of lifecycle limits (building and compiling the Ibis
    expression took nine tenths of a micro-batch's time), used by one caller at a time."""

    def __init__(self) -> None:
        self._con: DuckDBBackend = ibis.duckdb.connect(threads=1, memory_limit="256MB")
        self._lock = threading.Lock()
        self._sql: dict[LifecycleParams, str] = {}

    def tags_of(
        self, features: Mapping[int, Mapping[str, Any]], lifecycle: LifecycleParams
    ) -> dict[int, Tags]:
        """Each person's maintained tags (person number -> key -> [(value, score)])."""
        found: dict[int, Tags] = {number: {} for number in features}
        if not features:
            return found
        columns: dict[str, Sequence[Any]] = {P: list(features)}
        for name in FEATURES.names[1:]:
            columns[name] = [f.get(name) for f in features.values()]
        duck = self._con.con
        with self._lock:
            duck.register(TABLE, pa.table(columns, schema=FEATURES))
            try:
                rows = duck.execute(self._compiled(lifecycle)).arrow().read_all().to_pylist()
            finally:
                duck.unregister(TABLE)
        for row in rows:
            found[row[P]].setdefault(row["key"], []).append((row["value"], row["score"]))
        return found

    def _compiled(self, lifecycle: LifecycleParams) -> str:
        if lifecycle not in self._sql:
            wide = ibis.table(ibis.Schema.from_pyarrow(FEATURES), TABLE)
            parts = [
                *tags.rfm_tags(wide),
                *tags.lifecycle_tags(wide, lifecycle),
                *tags.value_segment_tags(wide, lifecycle),
            ]
            self._sql[lifecycle] = ibis.to_sql(ibis.union(*parts), dialect="duckdb")
        return self._sql[lifecycle]

    def close(self) -> None:
        self._con.disconnect()
