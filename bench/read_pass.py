"""Benchmark: the events' read pass alone, as a run makes it (`read_source` with its checks).

Prints one JSON object per repeat: wall_s and cpu_s (the process's, both cores) of reading a
shop's events file with the checks a run gives it. To compare with other code, run the same
command with that code first on the path:

    python bench/read_pass.py --events .bench-cache/shop-100000/events.csv --repeat 3
    PYTHONPATH=/tmp/before python bench/read_pass.py --events ... --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(events: Path) -> dict[str, float]:
    from tagging import clean
    from tagging.ingest import connect, read_source

    checks: dict[str, Any] = {"checks": clean.CHECKS["events"]}
    # Code before the checks made from a sample of the file has no CHECKS_OF_SAMPLE.
    if hasattr(clean, "CHECKS_OF_SAMPLE"):
        checks["checks_of_sample"] = clean.CHECKS_OF_SAMPLE["events"]
    con = connect()
    try:
        started, cpu = time.perf_counter(), _cpu_seconds()
        read_source(con, "events", events, **checks)
        return {
            "wall_s": round(time.perf_counter() - started, 2),
            "cpu_s": round(_cpu_seconds() - cpu, 2),
        }
    finally:
        con.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, required=True, help="an events CSV file")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.repeat):
        print(json.dumps(measure(args.events)), flush=True)


if __name__ == "__main__":
    main()
