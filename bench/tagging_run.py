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

Each run's `budgets` puts the stages, grouped as issue 23 budgets them for 1M users, beside
their budget (seconds; write is the tag store's): ingest + clean 40, identity 10, features +
tags 40, basket 15, write 20, the rest 25.

With --peer, each run is followed (in a process of its own) by the same files read by plain
DuckDB, which the run's total is put in proportion to (`peer`): the whole events and orders
files read as text, counting rows and distinct users (`read_s`), then RFM per user and each
user's top three event categories straight from the CSVs (`rfm_top3_s`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

SIZES = (100_000, 1_000_000)
# Seconds per group of stages for 1M users (issue 23); stages not named are "rest".
BUDGETS = {
    "ingest+clean": (("ingest", "clean"), 40),
    "identity": (("identity",), 10),
    "features+tags": (("features", "tags"), 40),
    "basket": (("basket",), 15),
    "write": (("write",), 20),
}
REST_BUDGET = 25
PEER_READ = """
SELECT count(*) AS rows, count(DISTINCT user_id) AS users
FROM read_csv('{file}', all_varchar = true)
"""
# The peer's timestamps: ISO 8601 text, else epoch seconds or milliseconds (the generator's).
PEER_TS = """CASE
    WHEN regexp_matches(ts, '^\\d{{12,13}}$') THEN to_timestamp(ts::BIGINT / 1000)
    WHEN regexp_matches(ts, '^\\d{{9,10}}$') THEN to_timestamp(ts::BIGINT)
    ELSE try_cast(ts AS TIMESTAMPTZ) END"""
PEER_RFM_TOP3 = """
CREATE OR REPLACE TEMP TABLE peer AS
WITH rfm AS (
    SELECT user_id, max({ts}) AS last_order, count(*) AS orders,
        sum(try_cast(amount AS DOUBLE)) AS spent
    FROM read_csv('{orders}', all_varchar = true) GROUP BY user_id
), counted AS (
    SELECT user_id, category, count(*) AS n
    FROM read_csv('{events}', all_varchar = true)
    WHERE user_id IS NOT NULL AND category IS NOT NULL GROUP BY ALL
), top3 AS (
    SELECT user_id, list(category ORDER BY n DESC, category)[1:3] AS categories
    FROM counted GROUP BY user_id
)
SELECT * FROM rfm FULL JOIN top3 USING (user_id)
"""


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

    from store.basket import report as run_report
    from store.db import make_engine
    from store.runs import reads as run_reads
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
        with _RssSampler() as rss:
            result = run_tagging(engine=engine, options=options)
        total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        with engine.connect() as connection:
            (run,) = run_reads.runs_by_id(connection=connection, run_ids=[result.run_id])
            stored = run_report(connection=connection, run_id=result.run_id, section="store")
            profile = run_report(connection=connection, run_id=result.run_id, section="profile")
            profile = (profile or {}).get("seconds")
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
        # The write's parts: numbering, layout, profiles, bitmaps, rest, pruning.
        "write_s": (stored or {}).get("write_seconds"),
        "write_peak_rss_mb": (stored or {}).get("peak_rss_mb"),
        "budgets": budgets(result.timings),
        # Where each stage's time went: its materialised tables and named pieces of work, and
        # "other" (the run's "profile" report).
        "profile": profile,
        "total_s": round(total, 2),
        # Both cores' work: steadier than total_s when something else shares the machine.
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # The highest resident size sampled in each stage (every 0.2 s; stages in run order).
        "peak_rss_mb_by_stage": rss.by_stage(started, result.timings),
        "generated_s": generated_s,
        "duckdb_memory_limit": options.duckdb_memory_limit,
    }


class _RssSampler:
    """The process's resident size every 0.2 s, on a thread, while the block runs."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            with open("/proc/self/statm") as statm:
                pages = int(statm.read().split()[1])
            self.samples.append((time.perf_counter(), pages * PAGE // 2**20))
            if self._stop.wait(0.2):
                return

    def by_stage(self, started: float, stages: dict[str, float]) -> dict[str, int]:
        """Each stage's highest sample, the stages taken to follow each other from `started`."""
        peaks: dict[str, int] = {}
        for name, seconds in stages.items():
            end = started + seconds
            inside = [mb for at, mb in self.samples if started <= at <= end]
            peaks[name] = max(inside, default=0)
            started = end
        return peaks


PAGE = os.sysconf("SC_PAGE_SIZE")


def budgets(stages: dict[str, float]) -> dict[str, dict[str, float]]:
    """The stages' seconds per budgeted group, beside the group's budget at 1M users."""
    named = {stage for group, _ in BUDGETS.values() for stage in group}
    found = {
        name: {"s": round(sum(stages.get(s, 0.0) for s in group), 2), "budget_1m_s": budget}
        for name, (group, budget) in BUDGETS.items()
    }
    rest = sum(seconds for stage, seconds in stages.items() if stage not in named)
    found["rest"] = {"s": round(rest, 2), "budget_1m_s": REST_BUDGET}
    return found


def peer(folder: Path, duckdb_memory: str) -> dict[str, float]:
    """Plain DuckDB on the same files: the read pass, then RFM and top-3 categories."""
    import duckdb

    con = duckdb.connect(config={"memory_limit": duckdb_memory})
    events, orders = folder / "events.csv", folder / "orders.csv"
    started = time.perf_counter()
    counts = {
        name: con.execute(PEER_READ.format(file=path)).fetchone()
        for name, path in (("events", events), ("orders", orders))
    }
    read = time.perf_counter() - started
    started = time.perf_counter()
    con.execute(PEER_RFM_TOP3.format(ts=PEER_TS, orders=orders, events=events))
    (users,) = con.execute("SELECT count(*) FROM peer").fetchone() or (0,)
    rfm = time.perf_counter() - started
    return {
        "read_s": round(read, 2),
        "rfm_top3_s": round(rfm, 2),
        "total_s": round(read + rfm, 2),
        "events": counts["events"][0] if counts["events"] else 0,
        "orders": counts["orders"][0] if counts["orders"] else 0,
        "users": users,
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
    parser.add_argument(
        "--peer", action="store_true", help="also time plain DuckDB on the same files"
    )
    parser.add_argument("--step", choices=["generate", "run", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--generated-s", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "generate":
        print(json.dumps(shop(args.cache, args.users)[1]))
        return
    if args.step == "peer":
        folder = args.cache / f"shop-{args.users}"
        print(json.dumps(peer(folder, args.duckdb_memory or "5GB")), flush=True)
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
            measured = json.loads(done.stdout.strip().splitlines()[-1])
            if args.peer:
                measured["peer"] = _peer(child, extra, measured["total_s"])
            print(json.dumps(measured), flush=True)
            runs.append(measured)
        if args.repeat > 1:
            print(json.dumps(summary(runs)), flush=True)


def _peer(child: list[str], extra: list[str], total_s: float) -> dict[str, Any]:
    """The peer pass in a process of its own, and the run's total as a multiple of it."""
    done = subprocess.run(
        [*child, "--step", "peer", *extra], check=True, stdout=subprocess.PIPE, text=True
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    found["ratio"] = round(total_s / found["total_s"], 1)
    found["ratio_to_read"] = round(total_s / found["read_s"], 1)
    return found


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
        # The write's parts (numbering, layout, profiles, ...), the median of the runs.
        "write_parts_median": {
            part: round(statistics.median((r["write_s"] or {}).get(part, 0.0) for r in runs), 3)
            for part in runs[0]["write_s"] or {}
        },
        **({"peer_ratio": spread([r["peer"]["ratio"] for r in runs])} if "peer" in runs[0] else {}),
        "budgets": {
            group: {
                **spread([r["budgets"][group]["s"] for r in runs]),
                "budget_1m_s": found["budget_1m_s"],
            }
            for group, found in runs[0]["budgets"].items()
        },
        "stages_median": {
            stage: round(statistics.median(r["stages"][stage] for r in runs), 3)
            for stage in runs[0]["stages"]
        },
        # Each stage's pieces (the run's profile), the median of the runs, largest first.
        "profile_median": {
            stage: dict(
                sorted(
                    (
                        (
                            piece,
                            round(statistics.median(r["profile"][stage][piece] for r in runs), 3),
                        )
                        for piece in steps
                        if all(piece in r["profile"].get(stage, {}) for r in runs)
                    ),
                    key=lambda kv: -kv[1],
                )
            )
            for stage, steps in (runs[0].get("profile") or {}).items()
        },
    }


if __name__ == "__main__":
    main()
