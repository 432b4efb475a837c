"""Count audiences over a million persons: the bitmap index against SQL on SQLite. Prints JSON.

    python bench/audience.py                     # 1,000,000 persons (store built once, cached)
    python bench/audience.py --persons 100000 --expressions 200 --sql-expressions 50

The store is synthetic (`audience_store`): ~300 tag values, ~22 tags a person. Expressions are
random ANDs and ORs of 3-6 terms (key:value, IN lists, comparisons on scores and numbers,
NOTs), drawn with a fixed seed. A count is what a request does in process: parse, check
against the run's vocabulary, evaluate, count. The SQL path runs on a subset of the same
expressions (it takes seconds on some), so its percentiles are over fewer samples.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from audience_store import NUMBER_KEYS, build_audience_store, tag_values

from store import api_queries, audience_sql
from store.audience_index import AudienceIndex, build_index, members_page
from store.db import make_engine
from store.expressions import KeyVocabulary, check, parse, vocabulary

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
    parser.add_argument("--sql-expressions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="write the store again")
    args = parser.parse_args()

    started = time.perf_counter()
    path = CACHE / f"persons-{args.persons}.db"
    url = build_audience_store(path, persons=args.persons, seed=args.seed, rebuild=args.rebuild)
    store_s = time.perf_counter() - started
    engine = make_engine(url)
    with engine.connect() as connection:
        run = api_queries.current_run(connection=connection)
        assert run is not None
        words = vocabulary(api_queries.tag_definitions(connection=connection, run_id=run.id))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        index = build_index(connection=connection, run_id=run.id)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        rng = random.Random(args.seed)
        texts = [random_expression(rng, words) for _ in range(args.expressions)]
        for text in texts[:20]:  # warm caches and the parser
            _count(index, words, text)
        count_ms, page_ms, counts = [], [], []
        for text in texts:
            begin = time.perf_counter()
            counts.append(_count(index, words, text))
            count_ms.append((time.perf_counter() - begin) * 1000)
            begin = time.perf_counter()
            members_page(index.evaluate(parse(text)), after=None, first=100)
            page_ms.append((time.perf_counter() - begin) * 1000)

        sql_ms = []
        for text, expected in zip(texts[: args.sql_expressions], counts, strict=False):
            begin = time.perf_counter()
            found = audience_sql.count(connection=connection, run_id=run.id, expression=parse(text))
            sql_ms.append((time.perf_counter() - begin) * 1000)
            if found != expected:
                sys.exit(f"bitmap and SQL disagree on {text!r}: {expected} != {found}")
    engine.dispose()

    count_p50, count_p99 = _percentiles(count_ms)
    page_p50, page_p99 = _percentiles(page_ms)
    sql_p50, sql_p99 = _percentiles(sql_ms)
    subset_p50 = _percentiles(count_ms[: len(sql_ms)])[0]
    result: dict[str, Any] = {
        "persons": index.persons,
        "tag_rows": run.tag_rows,
        "tag_values": tag_values(),
        "store_s": round(store_s, 1),
        "index_build_s": index.build_seconds,
        "index_mb": round(index.nbytes() / 1e6, 1),
        "index_rss_growth_mb": round((rss_after - rss_before) / 1e3, 1),
        "expressions": len(texts),
        "median_audience": int(statistics.median(counts)),
        "count_p50_ms": count_p50,
        "count_p99_ms": count_p99,
        "page_p50_ms": page_p50,
        "page_p99_ms": page_p99,
        "sql_expressions": len(sql_ms),
        "sql_count_p50_ms": sql_p50,
        "sql_count_p99_ms": sql_p99,
        "sql_over_bitmap_p50": round(sql_p50 / subset_p50, 1) if subset_p50 else None,
        "example_expression": texts[0],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
