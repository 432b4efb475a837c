"""Check: two versions of the code make the same store from the same generated shop.

Builds one SQLite store per code tree (`--before`, a checkout of the code to compare with, and
this tree) from one generated shop, then compares every table row by row. Prints one JSON
object: per table the rows on each side and the rows that differ, and the quality report's
counts per source and reason on each side; exits 1 when anything differs.

    git archive main | tar -x -C /tmp/before
    python bench/same_store.py --before /tmp/before --users 20000

What is not compared, because it is not the same from one run to the next: the run's clock
(`started_at`, `finished_at`, `timings`, `pid`), the seconds a report measured (`seconds`,
`fit_seconds`, `write_seconds`) and the resident size the write saw (`peak_rss_mb`), a float's
last digits (relative 1e-9: sums of floats in another order), and the order features are
listed in (features are compared by name) with the
compressed size that follows from it (`stored_bytes`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
RUN = """
import sys
from datetime import date
from pathlib import Path
from store.db import make_engine
from tagging.run import RunOptions, run_tagging
as_of = date.fromisoformat(sys.argv[3]) if sys.argv[3] else None
options = RunOptions(Path(sys.argv[1]), "same-store-id-key-0123456789", as_of=as_of)
run_tagging(engine=make_engine(f"sqlite:///{sys.argv[2]}"), options=options)
"""
CLOCK = {
    "started_at",
    "finished_at",
    "timings",
    "pid",
    "seconds",
    "fit_seconds",
    "write_seconds",
    "peak_rss_mb",
}
# The compressed size of a run's rows, which follows the order its features are listed in
# (`_features_by_name`): two runs of the same code differ in it too.
ORDER_BOUND = {"stored_bytes"}
REL = 1e-9


def build(code: Path, shop: Path, database: Path, as_of: str) -> None:
    """One store of `shop`, made by the code in `code` (in a process of its own)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    command = [sys.executable, "-c", RUN, str(shop), str(database), as_of]
    subprocess.run(command, check=True, env=env, cwd=code, stdout=subprocess.DEVNULL)


def rows(database: Path, table: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    with sqlite3.connect(database) as con:
        cursor = con.execute(f'SELECT * FROM "{table}"')
        names = [d[0] for d in cursor.description]
        skipped = CLOCK | ORDER_BOUND | {"id"}
        keep = [i for i, n in enumerate(names) if n not in skipped]
        found = [tuple(_settled(row[i]) for i in keep) for row in cursor.fetchall()]
        names = [names[i] for i in keep]
        found = _features_by_name(con, table, names, found)
    return names, sorted(found, key=repr)


def _features_by_name(
    con: sqlite3.Connection, table: str, names: list[str], found: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """`found` with a run's feature names as a set, and each profile's features as an object
    by name instead of the stored array.

    A run lists its features in the order the first person to have each was written, and the
    persons' order varies from run to run (DuckDB's parallel joins): the same features may be
    stored in another order, in every profile (`store.profiles.features_of`)."""
    if table == "runs" and "feature_names" in names:
        at = names.index("feature_names")
        listed = (json.dumps(sorted(json.loads(r[at] or "[]"))) for r in found)
        return [(*r[:at], names_, *r[at + 1 :]) for r, names_ in zip(found, listed, strict=True)]
    if table != "profiles" or "features" not in names:
        return found
    at, run_at = names.index("features"), names.index("run_id")
    by_run = {
        run: json.loads(feature_names or "[]")
        for run, feature_names in con.execute("SELECT id, feature_names FROM runs")
    }

    def by_name(row: tuple[Any, ...]) -> str | None:
        if row[at] is None:
            return None
        values = json.loads(zlib.decompress(row[at]))
        named = zip(by_run[row[run_at]], values, strict=True)
        return json.dumps({n: _settled(v) for n, v in named if v is not None}, sort_keys=True)

    return [(*r[:at], by_name(r), *r[at + 1 :]) for r in found]


def _settled(value: Any) -> Any:
    """A value without what differs between runs: JSON without clock keys, rounded floats."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(_settled(json.loads(value)), sort_keys=True)
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _settled(v) for k, v in value.items() if k not in CLOCK | ORDER_BOUND}
    if isinstance(value, list):
        return [_settled(v) for v in value]
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{9}g}")
    return value


def tables(database: Path) -> list[str]:
    with sqlite3.connect(database) as con:
        found = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return sorted(name for (name,) in found if not name.startswith("sqlite_"))


def reasons(database: Path) -> dict[str, dict[str, int]]:
    with sqlite3.connect(database) as con:
        (quality,) = con.execute("SELECT quality FROM runs").fetchone()
    return {source: q["dropped"] for source, q in json.loads(quality).items()}


def compare(before: Path, after: Path) -> dict[str, Any]:
    found: dict[str, Any] = {"tables": {}, "identical": True}
    for table in sorted(set(tables(before)) | set(tables(after))):
        old_names, old = rows(before, table)
        new_names, new = rows(after, table)
        differ = len(set(old) ^ set(new)) if old_names == new_names else max(len(old), len(new))
        found["tables"][table] = {"before": len(old), "after": len(new), "differ": differ}
        found["identical"] &= differ == 0 and len(old) == len(new)
    found["dropped"] = {"before": reasons(before), "after": reasons(after)}
    found["identical"] &= found["dropped"]["before"] == found["dropped"]["after"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the code to compare with")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--shop", type=Path, help="a shop folder instead of a generated one")
    parser.add_argument("--as-of", default="", help="the runs' as_of day (default: the latest)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portrait-same-") as tmp:
        shop = args.shop
        if shop is None:
            from tagging.generator import generate_shop

            shop = Path(tmp) / "shop"
            generate_shop(shop, users=args.users, seed=7)
        before, after = Path(tmp) / "before.db", Path(tmp) / "after.db"
        build(args.before.resolve(), shop, before, args.as_of)
        build(HERE, shop, after, args.as_of)
        found = compare(before, after)
    print(json.dumps(found, indent=1))
    sys.exit(0 if found["identical"] else 1)


if __name__ == "__main__":
    main()
