"""Market-basket analysis: association rules from order baskets, and what they recommend.

A basket is the distinct items (or categories) of one order. Mining is mlxtend's frequent
itemsets, then its association_rules. Which finds the itemsets depends on how many entries are
frequent (`_miner`): fpgrowth inserts every basket into its tree in Python, once; hmine projects
the sparse basket matrix on each frequent entry in turn with numpy, so its time grows with the
entries, but it never holds a tree of Python nodes. The same itemsets, measured (time, memory
above the start):

- 11 frequent categories of the 100k shop: hmine 0.13 s, fpgrowth 0.43 s;
- 293 frequent items of the 100k shop: hmine 0.8 s, fpgrowth 1.3 s;
- 287 frequent items of the 1M shop (3.6M baskets of two or more): hmine 15.6 s and 0.96 GB,
  fpgrowth 19.1 s and 1.48 GB, at the point of the run where its memory peaks;
- bench/basket.py's Zipf baskets: 343 and 349 frequent items (200k and 1M baskets): hmine 1.6
  and 6.2 s, 82 and 251 MB; fpgrowth 1.5 and 7.0 s, 117 and 375 MB. 684 and 674 items: hmine
  3.0 and 13.0 s, 80 and 302 MB; fpgrowth 2.0 and 10.0 s, 159 and 603 MB.

The miners are fed so that they stay small:

- an item below the minimum support cannot be in any frequent itemset, so infrequent items are
  dropped before encoding, and only baskets holding two or more frequent items (the only ones
  that can support a pair) become rows of the sparse matrix mlxtend sees;
- the support threshold is rescaled to those rows, and every support is turned back into a
  share of all baskets, single items' supports counted directly on all of them;
- whatever the baskets look like, the work is bounded before it starts: every pair is counted
  (a sparse matrix product), and past `max_itemsets` candidates (frequent pairs plus the
  triangles they make, which every frequent triple is one of) the minimum support is raised
  to the lowest pair count at which they fit. Grocery baskets of ~9 lines (the Complete
  Journey's) had made 342,966 category rules in 66 s at support 0.001.

Rules rank by lift within two groups, those in at least `rank_min_support` of the baskets
first, so that rare combinations with a high lift do not crowd out common ones.

What the rules recommend to each person is `tagging.recommend`.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from collections.abc import Callable
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
from scipy import sparse

from tagging.identity import PERSON as P

with warnings.catch_warnings():
    # mlxtend's fpcommon sets every DeprecationWarning to "always" when imported, for the
    # whole process; catch_warnings puts the filters back as they were.
    from mlxtend.frequent_patterns import association_rules, fpgrowth, hmine

# Up to this many frequent entries hmine finds the itemsets (as fast as fpgrowth or faster, in
# about 2/3 of the memory), past it fpgrowth (faster by 1.3-1.5x at ~680); see above.
HMINE_MAX_ENTRIES = 400
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


@dataclass(frozen=True)
class Bound:
    """How mining bounded its work: the support asked for and the one mined at."""

    requested_min_support: float
    min_support: float  # raised above the requested one when the itemsets would not fit
    max_itemsets: int
    max_len: int
    # Frequent pairs at the requested support, and pairs plus candidate triples (triangles of
    # frequent pairs, which every frequent triple is one of) at the support mined at.
    pairs_at_requested: int
    candidates: int


def mine_rules(
    pairs: ir.Table | pd.DataFrame | pa.Table, params: BasketParams, *, level: str
) -> RuleSet:
    """Rules from baskets given as (basket, entry) pairs, one per distinct entry of a basket.

    Entries are counted and pruned in DuckDB; only the rows that can support a pair reach
    pandas, where the pairs are counted and the support raised if the candidates would not
    fit in `params.max_itemsets` (`_bounded_min_count`) before mlxtend mines.
    """
    started = time.perf_counter()
    if isinstance(pairs, pd.DataFrame):
        pairs = pa.Table.from_pandas(pairs, preserve_index=False)
    if isinstance(pairs, pa.Table):
        pairs = ibis.memtable(pairs)
    counted = _count(pairs, params.min_support)
    n = counted.baskets
    min_count, candidates = _bounded_min_count(counted.pair_counts, counted.min_count, params)
    itemsets = _frequent_itemsets(
        _in_frequent_pairs(counted.rows, counted.pair_counts, min_count), min_count, params.max_len
    )
    # Itemsets longer than three are not among the candidates counted: the cap is then kept
    # by raising the support further on what was found (the same itemsets as mining there).
    itemsets, min_count = _within(itemsets, min_count, params.max_itemsets)
    bound = Bound(
        requested_min_support=params.min_support,
        min_support=round(min_count / n, 6) if n else params.min_support,
        max_itemsets=params.max_itemsets,
        max_len=params.max_len,
        pairs_at_requested=int((counted.pair_counts["n"] >= counted.min_count).sum()),
        candidates=candidates,
    )
    supports = pd.concat(
        [
            pd.DataFrame(
                {
                    "support": counted.frequent.to_numpy() / n,
                    "itemsets": [frozenset([e]) for e in counted.frequent.index],
                }
            ),
            pd.DataFrame({"support": itemsets["count"] / n, "itemsets": itemsets["itemsets"]}),
        ],
        ignore_index=True,
    )
    rules = _rules(supports, n, params) if len(itemsets) else _no_rules()
    return RuleSet(
        level=level,
        rules=rules,
        baskets=n,
        multi_item_baskets=counted.multi_item_baskets,
        frequent_items=len(counted.frequent),
        itemsets=len(itemsets),
        seconds=round(time.perf_counter() - started, 3),
        bound=bound,
    )


@dataclass(frozen=True)
class _Counted:
    baskets: int
    multi_item_baskets: int
    min_count: int
    frequent: pd.Series  # entry -> baskets holding it, frequent entries only
    rows: pd.DataFrame  # (basket, entry) of frequent entries in baskets holding two or more
    pair_counts: pd.DataFrame  # a, b (each pair once), n: baskets holding both; frequent only


def _count(pairs: ir.Table, min_support: float) -> _Counted:
    sizes = pairs.group_by("basket").aggregate(size=pairs.count())
    totals = (
        sizes.aggregate(baskets=sizes.count(), multi=(sizes["size"] >= 2).sum().fill_null(0))
        .to_pyarrow()
        .to_pylist()[0]
    )
    min_count = _min_count(min_support, int(totals["baskets"]))
    per_entry = pairs.group_by("entry").aggregate(baskets=pairs.count())
    frequent = per_entry.filter(per_entry.baskets >= min_count)
    kept = pairs.semi_join(frequent, "entry")
    holding = kept.group_by("basket").aggregate(k=kept.count())
    rows = kept.semi_join(holding.filter(holding.k >= 2), "basket")
    counts = frequent.order_by(ibis.desc("baskets"), "entry").to_pyarrow().to_pandas()
    kept_rows = rows.to_pyarrow().to_pandas()
    return _Counted(
        baskets=int(totals["baskets"]),
        multi_item_baskets=int(totals["multi"]),
        min_count=min_count,
        frequent=pd.Series(counts["baskets"].to_numpy(), index=counts["entry"].to_numpy()),
        rows=kept_rows,
        pair_counts=_pair_counts(kept_rows, min_count),
    )


def _pair_counts(rows: pd.DataFrame, min_count: int) -> pd.DataFrame:
    """Baskets holding each pair of entries, for the pairs in at least `min_count`: counted
    before any miner runs, so that the support can be raised before the work is done. The
    co-occurrence matrix of the baskets' sparse matrix (entries x entries) holds every count
    (the Complete Journey's categories: 0.2 s, against 2 s for DuckDB's self-join)."""
    if rows.empty:
        return pd.DataFrame({"a": pd.Series([], dtype=object), "b": [], "n": []})
    basket_codes, _ = pd.factorize(rows["basket"])
    entry_codes, entries = pd.factorize(rows["entry"])
    ones = np.ones(len(rows), dtype=np.int64)
    matrix = sparse.csr_matrix((ones, (basket_codes, entry_codes)))
    together = sparse.triu(matrix.T @ matrix, k=1).tocoo()
    frequent = together.data >= min_count
    a, b = entries[together.row[frequent]], entries[together.col[frequent]]
    return pd.DataFrame({"a": a, "b": b, "n": together.data[frequent]})


def _bounded_min_count(
    pair_counts: pd.DataFrame, min_count: int, params: BasketParams
) -> tuple[int, int]:
    """The lowest count, from the requested support's, at which the candidate itemsets fit in
    `params.max_itemsets`, and their number.

    Candidates are the frequent pairs and, for itemsets of three, the triangles of the graph
    of frequent pairs: every frequent triple is one, so the itemsets found never outnumber
    them, and the miner's work stays bounded.
    """
    thresholds = np.unique(pair_counts["n"].to_numpy())  # ascending

    def candidates(at: int) -> int:
        kept = pair_counts[pair_counts["n"] >= at]
        found = len(kept)
        if params.max_len >= 3 and found:
            found += _triangles(kept)
        return found

    if (found := candidates(min_count)) <= params.max_itemsets:
        return min_count, found
    low, high = 0, len(thresholds)  # thresholds[high - 1] fits at the latest (one pair)
    while low < high:  # the first threshold that fits; candidates shrink as it grows
        middle = (low + high) // 2
        if candidates(int(thresholds[middle])) <= params.max_itemsets:
            high = middle
        else:
            low = middle + 1
    if low == len(thresholds):  # not even the most frequent pairs (tied) fit: nothing mined
        return int(thresholds[-1]) + 1, 0
    at = int(thresholds[low])
    return at, candidates(at)


def _in_frequent_pairs(rows: pd.DataFrame, pair_counts: pd.DataFrame, at: int) -> pd.DataFrame:
    """`rows` of the entries in a pair of at least `at` baskets, in baskets holding two of
    them: every frequent itemset is made of such entries, and the miner's matrix shrinks (the
    Complete Journey's categories: 90 of 246 frequent ones at a support raised to 0.0118)."""
    frequent = pair_counts[pair_counts["n"] >= at]
    entries = pd.unique(pd.concat([frequent["a"], frequent["b"]], ignore_index=True))
    kept = rows[rows["entry"].isin(entries)]
    sizes = kept.groupby("basket", sort=False)["entry"].transform("size")
    return kept[sizes.to_numpy() >= 2]


def _triangles(pairs: pd.DataFrame) -> int:
    """Triangles of the graph whose edges are `pairs` (a, b)."""
    codes, _ = pd.factorize(pd.concat([pairs["a"], pairs["b"]], ignore_index=True))
    n = int(codes.max()) + 1
    a, b = codes[: len(pairs)], codes[len(pairs) :]
    ones = np.ones(len(pairs), dtype=np.int64)
    upper = sparse.csr_matrix((ones, (a, b)), shape=(n, n))
    adjacency = upper + upper.T
    # Each triangle is counted six times in the walks of length three that return home.
    return int((adjacency @ adjacency).multiply(adjacency).sum()) // 6


def _within(itemsets: pd.DataFrame, min_count: int, cap: int) -> tuple[pd.DataFrame, int]:
    """The itemsets whose count clears the lowest threshold that leaves at most `cap`, and
    that threshold."""
    if len(itemsets) <= cap:
        return itemsets, min_count
    counts = np.sort(itemsets["count"].to_numpy())[::-1]
    threshold = int(counts[cap]) + 1  # strictly above the first count that would not fit
    return itemsets[itemsets["count"] >= threshold].reset_index(drop=True), threshold


def _min_count(min_support: float, baskets: int) -> int:
    """The fewest baskets an itemset needs: support >= min_support, without float noise."""
    return max(1, math.ceil(round(min_support * baskets, 9)))


def _frequent_itemsets(rows: pd.DataFrame, min_count: int, max_len: int) -> pd.DataFrame:
    """Itemsets of two or more entries in at least `min_count` baskets: itemsets, count."""
    if rows.empty:
        return pd.DataFrame({"itemsets": [], "count": []})
    basket_codes, _ = pd.factorize(rows["basket"])
    entry_codes, entries = pd.factorize(rows["entry"])
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=bool), (basket_codes, entry_codes)),
        shape=(basket_codes.max() + 1, len(entries)),
    )
    columns = [str(e) for e in entries]
    frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=columns)  # type: ignore[attr-defined]
    r = matrix.shape[0]
    # (min_count - 0.5) / r: mlxtend takes ceil(min_support * rows) as its count threshold.
    mine = _miner(len(entries))
    found = mine(frame, min_support=(min_count - 0.5) / r, use_colnames=True, max_len=max_len)
    found = found[found["itemsets"].map(len) >= 2]
    # hmine's support column is of object dtype.
    counts = np.rint(found["support"].to_numpy(dtype=np.float64) * r).astype(np.int64)
    return pd.DataFrame({"itemsets": found["itemsets"].to_list(), "count": counts})


def _miner(entries: int) -> Callable[..., pd.DataFrame]:
    """hmine for a few frequent entries (categories), fpgrowth for many (items); see the
    module's docstring for the measurements."""
    return hmine if entries <= HMINE_MAX_ENTRIES else fpgrowth


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
