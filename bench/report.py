"""The persona report at scale: time to build the export, its size, and how long a headless
browser takes to draw it. Prints JSON.

    python bench/report.py --users 100000
    python bench/report.py --users 2000 --screenshot api/report/screenshot.png   # the README's

The store is a generated shop tagged twice (a month before its end, then to its end) with
saved audiences in between, so that trends, drift, conversion and overlaps have something to
show (`--runs 1`: the first run only); it is built once per size and cached in .bench-cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from stores import portrait_command

from api.counts import Disclosure
from api.report.data import build_report
from api.report.render import render
from store.audiences import saved as saved_audiences
from store.db import make_engine

CACHE = Path(".bench-cache")
AUDIENCES = {
    "active": "lifecycle:active",
    "baby buyers": "preferred_category:baby AND NOT lifecycle:lost",
    "loyal": "value_segment:high_value_loyal",
}
FIRST_AS_OF = date(2026, 10, 1)  # the generated shop ends on 2026-10-31
CHROMIUM = "/usr/bin/chromium"


def build_store(directory: Path, *, users: int, runs: int, rebuild: bool) -> str:
    """The shop generated, tagged as of FIRST_AS_OF, the audiences saved and measured, then
    (with runs=2) tagged to its end; each step done once (a marker file says it is)."""
    url = f"sqlite:///{directory / 'store.db'}"
    if rebuild:
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    shop, portrait = directory / "shop", portrait_command()
    env = {**os.environ, "PORTRAIT_DATABASE_URL": url}

    def command(*args: str) -> None:
        subprocess.run([portrait, *args], env=env, check=True, stdout=sys.stderr)

    def save_audiences() -> None:
        engine = make_engine(url)
        with engine.begin() as connection:
            for name, expression in AUDIENCES.items():
                saved_audiences.save(
                    connection=connection, name=name, expression=expression, by="bench"
                )
        saved_audiences.measure_all(engine=engine, run_id=1)
        engine.dispose()

    steps = {
        "generated": lambda: command(
            "generate", "--users", str(users), "--seed", "7", "--out", str(shop)
        ),
        "first_run": lambda: command(
            "run", "--source", str(shop), "--as-of", FIRST_AS_OF.isoformat()
        ),
        "audiences": save_audiences,
        "second_run": lambda: command("run", "--source", str(shop)),
    }
    for name, step in list(steps.items())[: 2 + runs]:
        marker = directory / f"{name}.done"
        if not marker.exists():
            step()
            marker.touch()
    return url


def export(url: str, out: Path, *, exact: bool) -> dict[str, Any]:
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.connect() as connection:
        report = build_report(
            connection=connection,
            disclosure=Disclosure(exact=exact, minimum=50, universe=0),
            now=datetime.now(UTC),
        )
    read = time.perf_counter() - started
    page = render(report, lang="en", served=False)
    out.write_text(page, encoding="utf-8")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "persons": report.run.persons,
        "read_seconds": round(read, 2),
        "export_seconds": round(seconds, 2),
        "page_bytes": len(page.encode("utf-8")),
    }


def draw(page_file: Path, screenshot: Path | None, *, repeats: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    drawn = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_file.resolve().as_uri())
            page.wait_for_selector("body[data-charts=drawn]", timeout=60_000)
            drawn.append(page.evaluate("window.portraitDrawnMs") / 1000)
            if screenshot is not None:
                page.set_viewport_size({"width": 1280, "height": 2000})
                page.screenshot(path=str(screenshot))
                screenshot = None
            page.close()
        browser.close()
    drawn.sort()
    return {"render_seconds_median": round(drawn[len(drawn) // 2], 2), "render_runs": len(drawn)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--runs", type=int, choices=(1, 2), default=2, help="runs to tag")
    parser.add_argument("--repeats", type=int, default=5, help="headless draws, median kept")
    parser.add_argument("--screenshot", type=Path, help="save the page's top as a PNG here")
    options = parser.parse_args()
    folder = CACHE / f"report-{options.users}"
    url = build_store(folder, users=options.users, runs=options.runs, rebuild=options.rebuild)
    out = CACHE / f"report-{options.users}.html"
    result: dict[str, Any] = {"users": options.users, "runs": options.runs}
    result |= export(url, out, exact=True)
    operator = export(url, out.with_suffix(".operator.html"), exact=False)
    result["operator_export_seconds"] = operator["export_seconds"]
    result |= draw(out, options.screenshot, repeats=options.repeats)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
