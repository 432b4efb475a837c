"""Market-basket analysis: association rules from order baskets, and what they recommend.

A basket is the distinct items (or categories) of one order. The frequent itemsets of the
baskets (`tagging.itemsets`, mlxtend's miners on a bounded amount of work) give the rules, by
mlxtend's association_rules.

Rules rank by lift within two groups, those in at least `rank_min_support` of the baskets
first, so that rare combinations with a high lift do not crowd out common ones.

What the rules recommend to each person is `tagging.recommend`.
"""

from __future__ import annotations

import io
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.backends.duckdb import Backend as DuckDBBackend

from tagging import itemsets
from tagging.identity import PERSON as P
from tagging.itemsets import Bound

with warnings.catch_warnings():
    # mlxtend's fpcommon sets every DeprecationWarning to "always" when imported, for the
    # whole process; catch_warnings puts the filters back as they were.
    from mlxtend.frequent_patterns import association_rules

LEVELS = ("item", "category")
RULE_COLUMNS = [
    "antecedents",
    "consequents",
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "leverage",
    "conviction",
]
METRICS = ["antecedent support", "consequent support", "support", "confidence", "lift"]
METRICS += ["leverage", "conviction"]


@dataclass(frozen=True)
class BasketParams:
    min_support: float = 0.001
    min_confidence: float = 0.1
    min_lift: float = 1.5
    max_len: int = 3  # the longest itemset, so a rule has at most max_len - 1 antecedents
    # At most this many frequent itemsets of two or more entries: past it the minimum support
    # is raised until they fit (`_bounded_min_count`), whatever the baskets look like.
    max_itemsets: int = 1_000  # Complete Journey's categories: 1,090 rules at support 0.0198
    # Rules supported by fewer baskets than this share rank after the others, however high
    # their lift: a pair seen in 0.1% of baskets with lift 30 says less than one in 5% at 3.
    rank_min_support: float = 0.01
    recent_orders: int = 5  # a person's latest orders whose items seed their recommendations
    recommendations: int = 10  # kept per person
    exclude_bought: bool = True  # never recommend what the person has bought

    def __post_init__(self) -> None:
        for name in ("min_support", "min_confidence", "rank_min_support"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value!r}")
        if self.max_len < 2:
            raise ValueError(
                f"max_len must be 2 or more (a rule needs two entries), got {self.max_len!r}"
            )
        if self.max_itemsets < 1:
            raise ValueError(f"max_itemsets must be 1 or more, got {self.max_itemsets!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RuleSet:
    """The rules of one level, best first (`_ranked`), and what mining saw and did."""

    level: str
    rules: pd.DataFrame  # RULE_COLUMNS; antecedents and consequents are sorted tuples
    baskets: int
    multi_item_baskets: int  # baskets with two or more distinct entries
    frequent_items: int
    itemsets: int  # frequent itemsets of two or more entries
    seconds: float
    bound: Bound | None = None

    def report(self) -> dict[str, Any]:
        return {
            "baskets": self.baskets,
            "multi_item_baskets": self.multi_item_baskets,
            "frequent_items": self.frequent_items,
            "itemsets": self.itemsets,
            "rules": len(self.rules),
            "seconds": self.seconds,
            **(asdict(self.bound) if self.bound else {}),
        }


def mine_rules(
    pairs: ir.Table | pd.DataFrame | pa.Table, params: BasketParams, *, level: str
) -> RuleSet:
    """Rules from baskets given as (basket, entry) pairs, one per distinct entry of a basket.

    The itemsets are `tagging.itemsets.frequent`'s: their support is raised when more than
    `params.max_itemsets` would be mined.
    """
    started = time.perf_counter()
    if isinstance(pairs, pd.DataFrame):
        pairs = pa.Table.from_pandas(pairs, preserve_index=False)
    if isinstance(pairs, pa.Table):
        pairs = ibis.memtable(pairs)
    found = itemsets.frequent(
        pairs,
        min_support=params.min_support,
        max_len=params.max_len,
        max_itemsets=params.max_itemsets,
    )
    n = found.baskets
    rules = _rules(found.supports, n, params) if found.itemsets else _no_rules()
    return RuleSet(
        level=level,
        rules=rules,
        baskets=n,
        multi_item_baskets=found.multi_item_baskets,
        frequent_items=found.frequent_items,
        itemsets=found.itemsets,
        seconds=round(time.perf_counter() - started, 3),
        bound=found.bound,
    )


def _rules(supports: pd.DataFrame, n: int, params: BasketParams) -> pd.DataFrame:
    found = association_rules(
        supports,
        num_itemsets=n,
        metric="confidence",
        min_threshold=params.min_confidence,
        return_metrics=METRICS,
    )
    found = found[found["lift"] >= params.min_lift]
    if found.empty:
        return _no_rules()
    rules = pd.DataFrame(
        {
            "antecedents": [tuple(sorted(s)) for s in found["antecedents"]],
            "consequents": [tuple(sorted(s)) for s in found["consequents"]],
            "antecedent_support": found["antecedent support"].to_numpy(),
            "consequent_support": found["consequent support"].to_numpy(),
            "support": found["support"].to_numpy(),
            "confidence": found["confidence"].to_numpy(),
            "lift": found["lift"].to_numpy(),
            "leverage": found["leverage"].to_numpy(),
            # Infinite when confidence is 1; the store keeps None ("no counter-examples").
            "conviction": found["conviction"].replace([np.inf, -np.inf], np.nan).to_numpy(),
        }
    )
    return _ranked(rules, params.rank_min_support)


def _ranked(rules: pd.DataFrame, rank_min_support: float) -> pd.DataFrame:
    """Best first: rules at or above `rank_min_support` before the rarer ones, each group by
    lift, then confidence, then support (then the entries, so that ties keep one order)."""
    rare = rules["support"] < rank_min_support - 1e-12  # exactly at the minimum is not rare
    order = rules.assign(_rare=rare).sort_values(
        ["_rare", "lift", "confidence", "support", "antecedents", "consequents"],
        ascending=[True, False, False, False, True, True],
        kind="stable",
    )
    return order.drop(columns="_rare").reset_index(drop=True)


def _no_rules() -> pd.DataFrame:
    return pd.DataFrame({column: [] for column in RULE_COLUMNS})


def basket_pairs(items: ir.Table, column: str) -> ir.Table:
    """(basket, entry) pairs of one level from the run's order items, each pair once."""
    pairs = items.filter(items[column].notnull())
    return pairs.select(basket=pairs.order_id, entry=pairs[column]).distinct()


@dataclass(frozen=True)
class Mined:
    """What the basket stage of a run found: rule sets, recommendations, next categories."""

    sets: dict[str, RuleSet]
    recommendations: ir.Table  # person_idx, rank, item_id, score, rule
    next_category: ir.Table  # person_idx, rank, entry, score, rule

    def summary(self) -> str:
        return ", ".join(
            f"{level} rules {len(s.rules):,} from {s.baskets:,} baskets"
            for level, s in self.sets.items()
        )

    def report(self) -> dict[str, Any]:
        """Per level what mining saw; a note when no basket could hold a rule."""
        report: dict[str, Any] = {level: s.report() for level, s in self.sets.items()}
        if all(s.multi_item_baskets == 0 for s in self.sets.values()):
            report["note"] = "no order holds two or more items: no basket rules can be mined"
        return report

    def rule_rows(self) -> pd.DataFrame:
        """The rules of every level as the store keeps them (rank 1 = the highest lift)."""
        frames = []
        for level, s in self.sets.items():
            rules = s.rules.assign(level=level, rank=np.arange(1, len(s.rules) + 1))
            for side in ("antecedents", "consequents"):  # JSON arrays in the store
                rules[side] = pd.Series([list(e) for e in s.rules[side]], dtype=object)
            frames.append(rules[["level", "rank", *RULE_COLUMNS]])
        return pd.concat(frames, ignore_index=True)

    def mentioned_items(self) -> ir.Table:
        """item_id of every item in an item rule."""
        rules = self.sets["item"].rules
        ids = sorted({i for side in ("antecedents", "consequents") for r in rules[side] for i in r})
        return ibis.memtable(pa.table({"item_id": pa.array(ids, pa.string())}))

    def tags(self) -> ir.Table:
        """The basket tag family: likely_next_category, scored."""
        t = self.next_category
        return t.select(
            P, key=ibis.literal("likely_next_category"), value=t.entry, score=t.score.round(4)
        )


def baskets_file(con: DuckDBBackend, items: ir.Table, folder: Path) -> bytes:
    """The run's baskets as Parquet: person_idx, basket (a number per order), item_id, category.

    Kept with the run so that the rules of one audience can be mined when someone asks.
    DuckDB (`con`) writes the file, in `folder`, streaming the sorted rows into it within its
    memory limit: made into Arrow in Python first, 1M users' 12M rows took about 1 GB beside it.
    """
    rows = items.select(P, "order_id", "item_id", "category").distinct()
    # Orders numbered from 0 in (person, order) order, as they first appear in the file.
    numbered = rows.mutate(basket=ibis.dense_rank().over(order_by=[P, "order_id"]).cast("int32"))
    table = numbered.order_by([P, "order_id", "item_id"]).select(P, "basket", "item_id", "category")
    path = folder / "baskets.parquet"
    con.to_parquet(table, path, compression="zstd")
    try:
        return path.read_bytes()
    finally:
        path.unlink()


def read_baskets(content: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(content))


def mine_segment(
    baskets: pa.Table, persons: np.ndarray, params: BasketParams, *, level: str
) -> RuleSet:
    """The rules of the baskets of some persons only (an audience), as a run mines them all."""
    mine = baskets.filter(pc.is_in(baskets[P], value_set=pa.array(persons, pa.int64())))
    column = "item_id" if level == "item" else "category"
    mine = mine.filter(pc.is_valid(mine[column]))
    pairs = pa.table({"basket": mine["basket"], "entry": mine[column]})
    return mine_rules(pairs.group_by(["basket", "entry"]).aggregate([]), params, level=level)
