"""Count and diff audiences over a million persons on the stored bitmaps. Prints JSON.

    python bench/audience.py                     # 1,000,000 persons (store built once, cached)
    python bench/audience.py --persons 100000 --expressions 200

The store is synthetic (`audience_store`): ~300 tag values, ~22 tags a person, two runs of the
same persons with tags drawn twice. Expressions are random ANDs and ORs of 3-6 terms (key:value,
IN lists, comparisons on scores and numbers, NOTs), drawn with a fixed seed. A count is what a
request does in process: parse, check against the run's vocabulary, evaluate, count; a diff
evaluates on both runs' indexes and counts who entered and left. Reported: the index's load
time (the API loads it at start, and a kept run's on first use), counts and diffs with both
indexes in memory, and a diff whose earlier run has to be loaded first.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from audience_store import NUMBER_KEYS, WRITES, build_audience_store, tag_values

from store import catalog
from store.audiences.expressions import KeyVocabulary, check, parse, vocabulary
from store.audiences.index import AudienceIndex, audience_diff, load_index, members_page
from store.db import make_engine
from store.runs import reads as run_reads

CACHE = Path.home() / ".cache" / "portrait" / "audience"
COMPARISONS: dict[str, list[float]] = {
    "recency_days": [7, 30, 90, 180, 365],
    "frequency": [1, 2, 3, 5, 10],
    "monetary": [50, 100, 250, 500, 1000],
    "rfm_r": [2, 3, 4],
    "rfm_m": [2, 3, 4],
    "preferred_category": [0.3, 0.5],
    "cart_abandoner": [0.6, 0.8],
    "preferred_brand": [0.5, 0.8],
}


def random_expression(rng: random.Random, words: dict[str, KeyVocabulary]) -> str:
    """3-6 terms joined mostly by AND, some OR groups, some NOTs."""
    closed = sorted(k for k, v in words.items() if v.values and k not in NUMBER_KEYS)
    terms = []
    for _ in range(rng.randint(3, 6)):
        roll = rng.random()
        if roll < 0.2:
            key = rng.choice(sorted(COMPARISONS))
            op = rng.choice(["<", "<=", ">", ">="])
            term = f"{key} {op} {rng.choice(COMPARISONS[key])}"
        elif roll < 0.4:
            key = rng.choice(closed)
            values = rng.sample(sorted(words[key].values), min(3, len(words[key].values)))
            term = f"{key} IN ({', '.join(values[: rng.randint(2, 3)])})"
        else:
            key = rng.choice(closed)
            term = f"{key}:{rng.choice(sorted(words[key].values))}"
        terms.append(f"NOT {term}" if rng.random() < 0.2 else term)
    text = terms[0]
    for term in terms[1:]:
        text = f"({text} OR {term})" if rng.random() < 0.2 else f"{text} AND {term}"
    return text


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return round(statistics.median(ordered), 3), round(p99, 3)


def _count(index: AudienceIndex, words: dict[str, KeyVocabulary], text: str) -> int:
    expression = parse(text)
    check(expression, words, text)
    return len(index.evaluate(expression))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--expressions", type=int, default=200)
    parser.add_argument("--cold-diffs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="write the store again")
    args = parser.parse_args()

    started = time.perf_counter()
    path = CACHE / f"v2-persons-{args.persons}.db"
    url = build_audience_store(path, persons=args.persons, seed=args.seed, rebuild=args.rebuild)
    store_s = time.perf_counter() - started
    engine = make_engine(url)
    with engine.connect() as connection:
        runs = sorted(run_reads.last_runs(connection=connection, last=2), key=lambda r: r.id)
        earlier, later = runs
        words = vocabulary(catalog.tag_definitions(connection=connection, run_id=later.id))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index = load_index(connection=connection, run_id=later.id)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cold = []
        for _ in range(args.cold_diffs):
            begin = time.perf_counter()
            before = load_index(connection=connection, run_id=earlier.id)
            len(audience_diff(before, index, parse("lifecycle:active")).entered)
            cold.append((time.perf_counter() - begin) * 1000)
    engine.dispose()

    rng = random.Random(args.seed)
    texts = [random_expression(rng, words) for _ in range(args.expressions)]
    for text in texts[:20]:  # warm caches, the parser and the score indexes' chunk unions
        _count(index, words, text)
        _count(before, words, text)
    count_ms, page_ms, diff_ms, counts, moved = [], [], [], [], []
    for text in texts:
        begin = time.perf_counter()
        counts.append(_count(index, words, text))
        count_ms.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        members_page(index.evaluate(parse(text)), after=None, first=100)
        page_ms.append((time.perf_counter() - begin) * 1000)
        begin = time.perf_counter()
        expression = parse(text)
        check(expression, words, text)
        diff = audience_diff(before, index, expression)
        moved.append(len(diff.entered) + len(diff.left))
        diff_ms.append((time.perf_counter() - begin) * 1000)

    count_p50, count_p99 = _percentiles(count_ms)
    page_p50, page_p99 = _percentiles(page_ms)
    diff_p50, diff_p99 = _percentiles(diff_ms)
    cold_p50, cold_max = _percentiles(cold)[0], round(max(cold), 1)
    result: dict[str, Any] = {
        "persons": index.persons,
        "tag_rows": later.tag_rows,
        "tag_values": tag_values(),
        "store_s": round(store_s, 1),
        "write_s": WRITES,  # each run's commit, when this call wrote the store
        "stored_mb_per_run": round(later.stored_bytes / 1e6, 1),
        "index_load_s": index.build_seconds,
        "index_mb": round(index.nbytes() / 1e6, 1),
        "index_rss_growth_mb": round((rss_after - rss_before) / 1e3, 1),
        "expressions": len(texts),
        "median_audience": int(statistics.median(counts)),
        "count_p50_ms": count_p50,
        "count_p99_ms": count_p99,
        "page_p50_ms": page_p50,
        "page_p99_ms": page_p99,
        "diff_p50_ms": diff_p50,
        "diff_p99_ms": diff_p99,
        "median_entered_plus_left": int(statistics.median(moved)),
        "diff_loading_earlier_run_p50_ms": round(cold_p50, 1),
        "diff_loading_earlier_run_max_ms": cold_max,
        "example_expression": texts[0],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
