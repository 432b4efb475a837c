"""The maintained tags of live persons, by the batch run's own tag rules (`tagging.tags`) run
on DuckDB over a small feature table of just those persons (and a table of their category
weights, for `preferred_category`)."""

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
    "cart_abandoner",
    "preferred_category",
)
# The maintained keys R, F and M scores decide (with the features beside them in FEATURES):
# all that changes for a person whose facts stayed as they were but whose rank others' orders
# moved (`TagRules.tags_of`'s `rescored`).
SCORED = ("rfm_r", "rfm_f", "rfm_m", "rfm_segment", "value_segment")
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
        ("carted_items", pa.int64()),
        ("cart_abandon_rate", pa.float64()),
    ]
)
# Each person's weight of each category (`tagging.live.shopping.Shopping.weights`).
WEIGHTS = pa.schema([(P, pa.int64()), ("category", pa.string()), ("weight", pa.int64())])
Tags = dict[str, list[tuple[str, float | None]]]
TABLE = "live_features"  # the name the compiled SQL reads the features under
WEIGHTS_TABLE = "live_category_weights"  # and the category weights
RESCORED_TABLE = "live_rescored"  # and those of the persons whose rank alone moved


class TagRules:
    """The run's rfm, lifecycle and value segment rules on an in-process DuckDB connection,
    compiled to SQL once per set of lifecycle limits (building and compiling the Ibis
    expression took nine tenths of a micro-batch's time), used by one caller at a time. One
    query a step: the step's persons' every maintained key, and the SCORED keys of the persons
    whose rank alone moved (each query has a fixed cost of several milliseconds)."""

    def __init__(self) -> None:
        self._con: DuckDBBackend = ibis.duckdb.connect(threads=1, memory_limit="256MB")
        self._lock = threading.Lock()
        self._sql: dict[LifecycleParams, str] = {}

    def tags_of(
        self,
        features: Mapping[int, Mapping[str, Any]],
        lifecycle: LifecycleParams,
        weights: Mapping[int, Mapping[str, int]],
        rescored: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> dict[int, Tags]:
        """Each person's maintained tags (person number -> key -> [(value, score)]), from
        their features and category weights; and for each person of `rescored` (features
        too, no weights), their SCORED keys only."""
        found: dict[int, Tags] = {number: {} for number in features}
        found |= {number: {} for number in rescored or {}}
        if not found:
            return found
        leanings = [(n, c, w) for n, theirs in weights.items() for c, w in theirs.items()]
        by_category = pa.table(
            [pa.array([row[i] for row in leanings], WEIGHTS.field(i).type) for i in range(3)],
            schema=WEIGHTS,
        )
        duck = self._con.con
        with self._lock:
            duck.register(TABLE, _features(features))
            duck.register(RESCORED_TABLE, _features(rescored or {}))
            duck.register(WEIGHTS_TABLE, by_category)
            try:
                table = duck.execute(self._compiled(lifecycle)).arrow().read_all()
            finally:
                for name in (TABLE, RESCORED_TABLE, WEIGHTS_TABLE):
                    duck.unregister(name)
        persons, keys, values, scores = (
            table.column(name).to_pylist() for name in (P, "key", "value", "score")
        )
        for person, key, value, score in zip(persons, keys, values, scores, strict=True):
            found[person].setdefault(key, []).append((value, score))
        return found

    def _compiled(self, lifecycle: LifecycleParams) -> str:
        if lifecycle not in self._sql:
            wide = ibis.table(ibis.Schema.from_pyarrow(FEATURES), TABLE)
            sums = ibis.table(ibis.Schema.from_pyarrow(WEIGHTS), WEIGHTS_TABLE)
            # The shares as `tagging.features.preference_weights` makes them from the sums.
            shares = sums.mutate(share=sums.weight / sums.weight.sum().over(group_by=P))
            parts = [
                *tags.rfm_tags(wide),
                *tags.lifecycle_tags(wide, lifecycle),
                *tags.value_segment_tags(wide, lifecycle),
                *tags.cart_abandoner_tags(wide),
                tags.top_values(
                    shares, "category", "preferred_category", tags.PREFERRED_CATEGORIES
                ),
            ]
            ranked = ibis.table(ibis.Schema.from_pyarrow(FEATURES), RESCORED_TABLE)
            scored = ibis.union(*tags.rfm_tags(ranked), *tags.value_segment_tags(ranked, lifecycle))
            every = ibis.union(*parts, scored.filter(scored.key.isin(SCORED)))
            # `preferred_category`'s value is `tagging.parsing.tag_text`, which calls a Python
            # function (NFKC) by a name Ibis gives it: run once through Ibis (the tables are
            # registered by then), the expression leaves it registered for the SQL to call.
            self._con.to_pyarrow(every.limit(0))
            self._sql[lifecycle] = ibis.to_sql(every, dialect="duckdb")
        return self._sql[lifecycle]

    def close(self) -> None:
        self._con.disconnect()


def _features(features: Mapping[int, Mapping[str, Any]]) -> pa.Table:
    columns: dict[str, Sequence[Any]] = {P: list(features)}
    for name in FEATURES.names[1:]:
        columns[name] = [f.get(name) for f in features.values()]
    return pa.table(columns, schema=FEATURES)
