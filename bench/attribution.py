"""Benchmark: every attribution model over synthetic touches. Prints JSON.

    python bench/attribution.py                       # 100,000 and 1,000,000 users
    python bench/attribution.py --users 100000 --touches 5

Per user: Poisson(--touches) touches (so about 5 each) spread over 90 days, each on one of
--channels channels (popularity falling as 1/rank) and one of --campaigns campaigns, 10% of a
campaign's touches holdouts; 40% of users order once within 0-10 days after a random touch.
`seconds` per model is that model at channel level alone (paths cut once, `paths_s`);
`run_report_s` is what a run does: paths, all seven models at both levels and the holdouts;
`by_persona_s` the same per persona (8 random personas over the buyers), which a run adds.
The frames are generated in memory (not timed) as the run hands them over. Each user count
runs in a fresh process, so `peak_rss_mb` is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

TARGETS = {100_000: 10.0, 1_000_000: 60.0}  # seconds for all models, on 2 cores
DAY_S = 86_400


def generate(
    users: int, touches: float, channels: int, campaigns: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    per_user = rng.poisson(touches, users)
    person = np.repeat(np.arange(users), per_user)
    n = len(person)
    start = np.datetime64("2026-01-01T00:00:00", "s")
    ts = start + rng.integers(0, 90 * DAY_S, n).astype("timedelta64[s]")
    weight = 1.0 / np.arange(1, channels + 1)
    channel = rng.choice(channels, n, p=weight / weight.sum())
    campaign = rng.integers(0, campaigns, n)
    kind = np.where(rng.random(n) < 0.1, "holdout", "click")
    frame = pd.DataFrame(
        {
            "person_idx": person,
            "ts": ts.astype("datetime64[us]"),
            "channel": np.char.add("ch", channel.astype(str)).astype(object),
            "campaign": np.char.add("cp", campaign.astype(str)).astype(object),
            "kind": kind.astype(object),
            "cost": rng.random(n).round(2),
        }
    )
    buyers = np.unique(person[rng.random(n) < 0.4 / max(touches, 1)])
    first = frame.groupby("person_idx").ts.min().reindex(buyers).to_numpy()
    orders = pd.DataFrame(
        {
            "person_idx": buyers,
            "ts": first + rng.integers(0, 10 * DAY_S, len(buyers)).astype("timedelta64[s]"),
            "amount": rng.integers(10, 500, len(buyers)).astype(float),
        }
    )
    return frame, orders


def measure(users: int, args: argparse.Namespace) -> dict[str, Any]:
    from tagging.attribution.inputs import by_persona, run_report
    from tagging.attribution.paths import conversion_paths
    from tagging.attribution.report import MODELS, AttributionParams, credit

    touches, orders = generate(users, args.touches, args.channels, args.campaigns, args.seed)
    params = AttributionParams()
    started = time.perf_counter()
    paths = conversion_paths(touches, orders, window_days=params.window_days, level="channel")
    result: dict[str, Any] = {
        "users": users,
        "touches": len(touches),
        "orders": len(orders),
        "paths": int(paths.ends.path.nunique()),
        "paths_s": round(time.perf_counter() - started, 2),
        "seconds": {},
    }
    for model in MODELS:
        started = time.perf_counter()
        credit(paths, model, params)
        result["seconds"][model] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    run_report(touches, orders, params)
    result["run_report_s"] = round(time.perf_counter() - started, 2)
    # A run also attributes per persona: 8 of them over the buyers, as clustering gives them.
    rng = np.random.default_rng(args.seed)
    buyers = orders.person_idx.unique()
    personas = pd.DataFrame({"person_idx": buyers, "persona": rng.integers(0, 8, len(buyers))})
    started = time.perf_counter()
    by_persona(touches, orders, personas.astype({"persona": str}), params)
    result["by_persona_s"] = round(time.perf_counter() - started, 2)
    result["target_s"] = TARGETS.get(users)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="100000,1000000", help="comma-separated user counts")
    parser.add_argument("--touches", type=float, default=5.0)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    counts = [int(u) for u in args.users.split(",")]
    if args.one:
        print(json.dumps(measure(counts[0], args)))
        return
    results = []
    for users in counts:
        command = [sys.executable, __file__, "--one", "--users", str(users)]
        command += ["--touches", str(args.touches), "--channels", str(args.channels)]
        command += ["--campaigns", str(args.campaigns), "--seed", str(args.seed)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
