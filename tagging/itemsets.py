"""Frequent itemsets of baskets given as (basket, entry) pairs, on a bounded amount of work.

Which of mlxtend's miners finds the itemsets depends on how many entries are frequent
(`miner`): fpgrowth inserts every basket into its tree in Python, once; hmine projects the
sparse basket matrix on each frequent entry in turn with numpy, so its time grows with the
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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from scipy import sparse

with warnings.catch_warnings():
    # mlxtend's fpcommon sets every DeprecationWarning to "always" when imported, for the
    # whole process; catch_warnings puts the filters back as they were.
    from mlxtend.frequent_patterns import fpgrowth, hmine

# Up to this many frequent entries hmine finds the itemsets (as fast as fpgrowth or faster, in
# about 2/3 of the memory), past it fpgrowth (faster by 1.3-1.5x at ~680); see above.
HMINE_MAX_ENTRIES = 400


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


@dataclass(frozen=True)
class Found:
    """The frequent itemsets of some baskets, and what finding them saw and did."""

    baskets: int
    multi_item_baskets: int  # baskets with two or more distinct entries
    frequent_items: int
    itemsets: int  # frequent itemsets of two or more entries
    # support (a share of all baskets) and itemsets (frozensets): single entries and longer
    supports: pd.DataFrame
    bound: Bound


def frequent(pairs: ir.Table, *, min_support: float, max_len: int, max_itemsets: int) -> Found:
    """The itemsets of up to `max_len` entries in at least `min_support` of the baskets, the
    support raised until at most `max_itemsets` of two or more entries are found.

    Entries are counted and pruned in DuckDB; only the rows that can support a pair reach
    pandas, where the pairs are counted and the support raised if the candidates would not
    fit (`_bounded_min_count`) before mlxtend mines.
    """
    counted = _count(pairs, min_support)
    n = counted.baskets
    min_count, candidates = _bounded_min_count(
        counted.pair_counts, counted.min_count, max_len=max_len, max_itemsets=max_itemsets
    )
    found = _frequent_itemsets(
        _in_frequent_pairs(counted.rows, counted.pair_counts, min_count), min_count, max_len
    )
    # Itemsets longer than three are not among the candidates counted: the cap is then kept
    # by raising the support further on what was found (the same itemsets as mining there).
    found, min_count = _within(found, min_count, max_itemsets)
    bound = Bound(
        requested_min_support=min_support,
        min_support=round(min_count / n, 6) if n else min_support,
        max_itemsets=max_itemsets,
        max_len=max_len,
        pairs_at_requested=int((counted.pair_counts["n"] >= counted.min_count).sum()),
        candidates=candidates,
    )
    singles = pd.DataFrame(
        {
            "support": counted.frequent.to_numpy() / n,
            "itemsets": [frozenset([e]) for e in counted.frequent.index],
        }
    )
    longer = pd.DataFrame({"support": found["count"] / n, "itemsets": found["itemsets"]})
    return Found(
        baskets=n,
        multi_item_baskets=counted.multi_item_baskets,
        frequent_items=len(counted.frequent),
        itemsets=len(found),
        supports=pd.concat([singles, longer], ignore_index=True),
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
    pair_counts: pd.DataFrame, min_count: int, *, max_len: int, max_itemsets: int
) -> tuple[int, int]:
    """The lowest count, from the requested support's, at which the candidate itemsets fit in
    `max_itemsets`, and their number.

    Candidates are the frequent pairs and, for itemsets of three, the triangles of the graph
    of frequent pairs: every frequent triple is one, so the itemsets found never outnumber
    them, and the miner's work stays bounded.
    """
    thresholds = np.unique(pair_counts["n"].to_numpy())  # ascending

    def candidates(at: int) -> int:
        kept = pair_counts[pair_counts["n"] >= at]
        found = len(kept)
        if max_len >= 3 and found:
            found += _triangles(kept)
        return found

    if (found := candidates(min_count)) <= max_itemsets:
        return min_count, found
    low, high = 0, len(thresholds)  # thresholds[high - 1] fits at the latest (one pair)
    while low < high:  # the first threshold that fits; candidates shrink as it grows
        middle = (low + high) // 2
        if candidates(int(thresholds[middle])) <= max_itemsets:
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
    mine = miner(len(entries))
    found = mine(frame, min_support=(min_count - 0.5) / r, use_colnames=True, max_len=max_len)
    found = found[found["itemsets"].map(len) >= 2]
    # hmine's support column is of object dtype.
    counts = np.rint(found["support"].to_numpy(dtype=np.float64) * r).astype(np.int64)
    return pd.DataFrame({"itemsets": found["itemsets"].to_list(), "count": counts})


def miner(entries: int) -> Callable[..., pd.DataFrame]:
    """hmine for a few frequent entries (categories), fpgrowth for many (items); see the
    module's docstring for the measurements."""
    return hmine if entries <= HMINE_MAX_ENTRIES else fpgrowth
