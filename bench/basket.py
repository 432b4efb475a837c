"""Benchmark: association-rule mining (tagging.basket.mine_rules) on synthetic baskets. Prints JSON.

    python bench/basket.py                                  # 200,000 baskets, 5,000 items
    python bench/basket.py --min-support 0.002,0.001 --baskets 50000
    python bench/basket.py --no-pyfim                       # skip the reference

Baskets are generated with a fixed seed: 1 + geometric sizes (mean --mean-size, about a third
single-item baskets), items drawn with Zipf-like popularity (p ∝ 1/rank^--zipf), duplicates
within a basket dropped, and --pairs planted co-purchase pairs (the consequent joins a basket
holding the antecedent with probability --planted-p) so rules exist and can be checked. Basket
and item ids are strings. mine_rules gets them as a pandas frame, so `seconds` includes its
turning that into a DuckDB memtable (the pipeline hands it `basket_pairs`, an ibis table).

Each min support runs in a fresh process, so `peak_rss_mb` (ru_maxrss, taken right after
mining, before the reference runs) is that configuration's own and includes generating and
holding the baskets. `seconds` is mine_rules alone; `generate_s` is the generation.

When pyfim is installed (`pip install pyfim`; bench only, not a dependency) the same baskets go
through its fpgrowth as a reference, in the same process after mine_rules: itemsets of 2-3
items at the same absolute minimum count (`pyfim_seconds`, `pyfim_itemsets`), and rules of 2-3
items with confidence >= min confidence, lift then filtered >= min lift (`pyfim_rules_seconds`).
pyfim only makes rules with one consequent item, so they are compared with mine_rules' rules
of one consequent. mine_rules mines itemsets and rules, so `ratio_to_pyfim_rules` is the
like-for-like ratio; `ratio_to_pyfim` is against pyfim's itemsets alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from tagging.basket import BasketParams

SUPPORTS = (0.001, 0.0005)
TARGETS = {"seconds": 10, "peak_rss_mb": 1024}
MAX_SIZE = 40  # longest basket drawn (before duplicates are dropped)


def generate(
    baskets: int,
    items: int,
    *,
    zipf: float,
    mean_size: float,
    pairs: int,
    planted_p: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, list[str], list[tuple[str, str]]]:
    """Distinct (basket, item) codes sorted by basket, the item names, the planted pairs."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, items + 1) ** zipf  # code = popularity rank
    sizes = np.minimum(rng.geometric(1.0 / mean_size, size=baskets), MAX_SIZE)
    basket = np.repeat(np.arange(baskets, dtype=np.int64), sizes)
    item = rng.choice(items, size=len(basket), p=weights / weights.sum())

    # Antecedents popular enough to carry a pair at 0.001, consequents from the middle ranks.
    antecedents = rng.choice(np.arange(5, min(100, items)), size=pairs, replace=False)
    consequents = rng.choice(np.arange(200, min(2000, items)), size=pairs, replace=False)
    pair_of = np.full(items, -1)
    pair_of[antecedents] = np.arange(pairs)
    hit = pair_of[item]
    add = (hit >= 0) & (rng.random(len(item)) < planted_p)
    basket = np.concatenate([basket, basket[add]])
    item = np.concatenate([item, consequents[hit[add]]])

    keys = np.unique(basket * items + item)  # distinct entries per basket, sorted by basket
    names = [f"item{code:05d}" for code in rng.permutation(items)]  # ids unrelated to rank
    planted = [(names[a], names[c]) for a, c in zip(antecedents, consequents, strict=True)]
    return keys // items, keys % items, names, planted


def basket_frame(basket: np.ndarray, item: np.ndarray, names: list[str]) -> pd.DataFrame:
    """The `baskets` frame mine_rules takes: basket, entry; one row per distinct pair."""
    order_ids = np.array([f"o{b:07d}" for b in range(int(basket.max()) + 1)], dtype=object)
    return pd.DataFrame(
        {
            "basket": pd.Series(order_ids[basket], dtype="str"),
            "entry": pd.Series(np.array(names, dtype=object)[item], dtype="str"),
        }
    )


def transactions(basket: np.ndarray, item: np.ndarray, names: list[str]) -> list[list[str]]:
    """The same baskets as lists of item ids (basket is sorted)."""
    cuts = np.flatnonzero(np.diff(basket)) + 1
    entries = np.array(names, dtype=object)[item]
    return [part.tolist() for part in np.split(entries, cuts)]


def rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def worker(args: argparse.Namespace, min_support: float) -> dict[str, Any]:
    """One configuration, in its own process: generate, mine, then the pyfim reference."""
    from tagging.basket import BasketParams, mine_rules

    started = time.perf_counter()
    basket, item, names, planted = generate(
        args.baskets,
        args.items,
        zipf=args.zipf,
        mean_size=args.mean_size,
        pairs=args.pairs,
        planted_p=args.planted_p,
        seed=args.seed,
    )
    frame = basket_frame(basket, item, names)
    generate_s = time.perf_counter() - started
    rss_generated = rss_mb()

    params = BasketParams(min_support=min_support, max_itemsets=args.max_itemsets)
    started = time.perf_counter()
    ruleset = mine_rules(frame, params, level="item")
    seconds = time.perf_counter() - started
    peak = rss_mb()

    rules = ruleset.rules
    single = rules[rules["consequents"].map(len) == 1]
    found = set(zip(single["antecedents"], single["consequents"].map(lambda c: c[0]), strict=True))
    report = ruleset.report()
    min_count = int(np.ceil(round(min_support * report["baskets"], 9)))
    result: dict[str, Any] = {
        "min_support": min_support,
        "min_count": min_count,
        "rows": len(frame),
        "mean_basket_size": round(len(frame) / report["baskets"], 2),
        "single_item_baskets": report["baskets"] - report["multi_item_baskets"],
        "generate_s": round(generate_s, 3),
        "seconds": round(seconds, 3),
        "peak_rss_mb": peak,
        "rss_after_generate_mb": rss_generated,
        "multi_item_baskets": report["multi_item_baskets"],
        "frequent_items": report["frequent_items"],
        "candidates": report["candidates"],
        "mined_min_support": report["min_support"],
        "itemsets": report["itemsets"],
        "rules": report["rules"],
        "rules_one_consequent": len(single),
        "planted": len(planted),
        "planted_found": sum(((a,), c) in found for a, c in planted),
        "within_targets": seconds <= TARGETS["seconds"] and peak <= TARGETS["peak_rss_mb"],
    }
    result.update(reference(args, basket, item, names, params, min_count, found, seconds))
    if result["pyfim_itemsets"] is not None:
        result["itemsets_match"] = result["pyfim_itemsets"] == result["itemsets"]
    return result


def reference(
    args: argparse.Namespace,
    basket: np.ndarray,
    item: np.ndarray,
    names: list[str],
    params: BasketParams,
    min_count: int,
    found: set[tuple[tuple[str, ...], str]],
    seconds: float,
) -> dict[str, Any]:
    """pyfim's fpgrowth on the same baskets, or null keys when it is missing or skipped."""
    empty: dict[str, Any] = {
        "pyfim_prepare_s": None,
        "pyfim_seconds": None,
        "pyfim_itemsets": None,
        "itemsets_match": None,
        "pyfim_rules_seconds": None,
        "pyfim_rules": None,
        "rules_match": None,
        "ratio_to_pyfim": None,
        "ratio_to_pyfim_rules": None,
        "peak_rss_mb_with_pyfim": None,
    }
    if args.no_pyfim:
        return {**empty, "pyfim": "skipped"}
    try:
        import fim
    except ImportError:
        return {**empty, "pyfim": "not installed"}

    started = time.perf_counter()
    tracts = transactions(basket, item, names)
    prepare_s = time.perf_counter() - started
    zmax = params.max_len
    started = time.perf_counter()
    itemsets = fim.fpgrowth(tracts, target="s", supp=-min_count, zmin=2, zmax=zmax, report="a")
    itemsets_s = time.perf_counter() - started
    started = time.perf_counter()
    # mode "o": a rule's support is its body and head together (the usual definition).
    raw = fim.fpgrowth(
        tracts,
        target="r",
        supp=-min_count,
        conf=params.min_confidence * 100,
        zmin=2,
        zmax=zmax,
        report="l",
        mode="o",
    )
    rules = {(tuple(sorted(body)), head) for head, body, lift in raw if lift >= params.min_lift}
    rules_s = time.perf_counter() - started
    return {
        "pyfim": metadata.version("pyfim"),
        "pyfim_prepare_s": round(prepare_s, 3),
        "pyfim_seconds": round(itemsets_s, 3),
        "pyfim_itemsets": len(itemsets),
        "itemsets_match": None,  # set by the caller, which holds mine_rules' count
        "pyfim_rules_seconds": round(rules_s, 3),
        "pyfim_rules": len(rules),
        "rules_match": rules == found,
        "ratio_to_pyfim": round(seconds / itemsets_s, 1) if itemsets_s else None,
        "ratio_to_pyfim_rules": round(seconds / rules_s, 1) if rules_s else None,
        "peak_rss_mb_with_pyfim": rss_mb(),
    }


def supports(values: list[str] | None) -> list[float]:
    if not values:
        return list(SUPPORTS)
    return [float(v) for value in values for v in value.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baskets", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent s")
    parser.add_argument("--mean-size", type=float, default=3.0, help="mean drawn basket size")
    parser.add_argument("--pairs", type=int, default=20, help="planted co-purchase pairs")
    parser.add_argument("--planted-p", type=float, default=0.5)
    parser.add_argument(
        "--min-support", action="append", help="repeatable or a comma list (0.001,0.0005)"
    )
    parser.add_argument("--no-pyfim", action="store_true", help="skip the pyfim reference")
    parser.add_argument(
        "--max-itemsets",
        type=int,
        default=10**9,
        help="mine_rules' cap on candidate itemsets; by default none, so that it mines at the "
        "support pyfim does (the runs' default is tagging.basket.BasketParams' 1,000)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        (min_support,) = supports(args.min_support)
        print(json.dumps(worker(args, min_support)), flush=True)
        return

    started = time.perf_counter()
    results = []
    for min_support in supports(args.min_support):
        child = [sys.executable, __file__, "--worker", "--min-support", repr(min_support)]
        flags = ("baskets", "items", "seed", "zipf", "mean_size", "pairs", "planted_p")
        for flag in (*flags, "max_itemsets"):
            child += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        if args.no_pyfim:
            child.append("--no-pyfim")
        done = subprocess.run(child, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"worker at min support {min_support} failed:\n{done.stderr}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))

    from tagging.itemsets import HMINE_MAX_ENTRIES  # here: each worker measures its own imports

    output = {
        "baskets": args.baskets,
        "items": args.items,
        "seed": args.seed,
        "zipf": args.zipf,
        "mean_size": args.mean_size,
        "planted_pairs": args.pairs,
        "results": results,
        "targets": TARGETS,
        "ratio_note": (
            "seconds is mine_rules (mlxtend fpgrowth, or hmine for at most"
            f" {HMINE_MAX_ENTRIES} frequent items, + association_rules, all consequent"
            " sizes);"
            " ratio_to_pyfim divides it by pyfim's itemsets alone, ratio_to_pyfim_rules by"
            " pyfim's itemsets + one-consequent rules; max_len 3 for both"
        ),
        "total_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
