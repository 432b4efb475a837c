"""Benchmark: a whole tagging run on generated shops of 100,000 and 1,000,000 users.

Prints one JSON object per size: persons, events, stages (seconds), total_s, cpu_s, peak_rss_mb,
plus the generation time when the shop had to be generated. Shops are cached in
.bench-cache/ (or --cache) and reused. Each size runs in a fresh process so its peak RSS is its own.

    python bench/tagging_run.py                            # 100k and 1M users
    python bench/tagging_run.py --users 100000             # one size
    python bench/tagging_run.py --users 100000 --repeat 3  # then a summary of the three

With --repeat N each size runs N times, each in a fresh process, and after the N objects comes
one summary object: min, median and max of total_s and cpu_s, the highest peak_rss_mb and the
median of each stage. This machine's speed moves by 10-20% from run to run, so one run is a
sample, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

SIZES = (100_000, 1_000_000)


def shop(cache: Path, users: int) -> tuple[Path, float | None]:
    from tagging.generator import generate_shop

    folder = cache / f"shop-{users}"
    if (folder / "orders.csv").exists():
        return folder, None
    started = time.perf_counter()
    generate_shop(folder, users=users, seed=7)
    return folder, round(time.perf_counter() - started, 1)


def measure(
    folder: Path,
    users: int,
    generated_s: float | None,
    duckdb_memory: str | None,
    database_url: str | None = None,
) -> dict[str, object]:
    from sqlmodel import SQLModel

    from store import api_queries
    from store.db import make_engine
    from tagging.run import RunOptions, run_tagging

    options = RunOptions(folder, "bench-id-key-0123456789")
    if duckdb_memory is not None:
        options = replace(options, duckdb_memory_limit=duckdb_memory)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(database_url or f"sqlite:///{tmp}/bench.db")
        if database_url:  # an empty store, as the temporary SQLite file is
            SQLModel.metadata.drop_all(engine)
            SQLModel.metadata.create_all(engine)
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = run_tagging(engine=engine, options=options)
        total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        with engine.connect() as connection:
            (run,) = api_queries.runs_by_id(connection=connection, run_ids=[result.run_id])
        engine.dispose()
    return {
        "store": engine.dialect.name,
        # What the run's rows take in the store (profiles, bitmaps, scores, files).
        "stored_mb": round(run.stored_bytes / 1e6, 1),
        "users": users,
        "persons": result.persons,
        "events": result.quality.get("events", {}).get("read", 0),
        "orders": result.quality["orders"]["read"],
        "tag_rows": result.tag_rows,
        "stages": result.timings,
        "total_s": round(total, 2),
        # Both cores' work: steadier than total_s when something else shares the machine.
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "generated_s": generated_s,
        "duckdb_memory_limit": options.duckdb_memory_limit,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, help="one size only")
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    parser.add_argument("--duckdb-memory", help="DuckDB's memory limit, e.g. 6GB")
    parser.add_argument(
        "--database-url",
        help="the store (default: a fresh SQLite file); a PostgreSQL database is emptied first",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size, then a summary of them"
    )
    parser.add_argument("--step", choices=["generate", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--generated-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "generate":
        print(json.dumps(shop(args.cache, args.users)[1]))
        return
    if args.step == "run":
        folder = args.cache / f"shop-{args.users}"
        measured = measure(
            folder, args.users, args.generated_s, args.duckdb_memory, args.database_url
        )
        print(json.dumps(measured), flush=True)
        return
    for users in [args.users] if args.users else SIZES:
        child = [sys.executable, __file__, "--users", str(users), "--cache", str(args.cache)]
        generated = subprocess.run(
            [*child, "--step", "generate"], check=True, capture_output=True, text=True
        ).stdout.strip()
        extra = [] if generated == "null" else ["--generated-s", generated]
        if args.duckdb_memory:
            extra += ["--duckdb-memory", args.duckdb_memory]
        if args.database_url:
            extra += ["--database-url", args.database_url]
        runs = []
        for _ in range(args.repeat):
            # stdout only: the child's errors still reach the terminal.
            done = subprocess.run(
                [*child, "--step", "run", *extra], check=True, stdout=subprocess.PIPE, text=True
            )
            print(done.stdout.strip(), flush=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        if args.repeat > 1:
            print(json.dumps(summary(runs)), flush=True)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What several runs of one size measured: the spread of the times, the highest peak."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"min": min(values), "median": statistics.median(values), "max": max(values)}

    return {
        "users": runs[0]["users"],
        "runs": len(runs),
        "total_s": spread([r["total_s"] for r in runs]),
        "cpu_s": spread([r["cpu_s"] for r in runs]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "write_s": spread([r["stages"]["write"] for r in runs]),
        "stages_median": {
            stage: round(statistics.median(r["stages"][stage] for r in runs), 3)
            for stage in runs[0]["stages"]
        },
    }


if __name__ == "__main__":
    main()
