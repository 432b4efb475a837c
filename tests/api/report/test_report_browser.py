"""The persona report in a real browser (Debian's Chromium) over real HTTP, with every request
to another host blocked and counted: it must draw every section from the page itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page
from sqlalchemy import text

from tests.api.browser import Watched, screenshot, watched_page
from tests.api.report.conftest import ReportShop

PORTRAIT = Path(sys.executable).with_name("portrait")
SECTIONS = ["overview", "personas", "distributions", "audiences", "performance", "rules"]
CHARTS = [
    "audience_overlap",
    "audience_sizes",
    "drift",
    "lifecycle",
    "persona_rfm",
    "persona_scores",
    "persona_trend",
    "persona_value_segment",
    "rfm_grid",
    "segment_performance",
    "value_segment",
]
UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"


def open_report(watched: Watched, url: str, key: str | None) -> Page:
    """The report at `url`, after giving its form `key`; waits until the charts are drawn."""
    page = watched.page
    page.goto(url)
    assert watched.outside == []  # a CDN link fails here, not by a timeout below
    if key is not None:
        # The form comes with 401 (what a script without a key gets), which Chromium logs.
        assert watched.errors == [UNAUTHORIZED]
        watched.errors.clear()
        page.fill("#key", key)
        page.click("button[type=submit]")
    page.wait_for_selector("body[data-charts]", timeout=30_000)
    return page


def chart_data(page: Page, name: str) -> list[dict[str, Any]]:
    """The rows a chart draws, as its Vega view holds them."""
    rows: list[dict[str, Any]] = page.evaluate(
        "name => window.portraitViews[name].data(name)", name
    )
    return rows


def drawn_everything(page: Page, watched: Watched) -> None:
    assert page.eval_on_selector_all("section[data-section]", "s => s.map(e => e.id)") == SECTIONS
    assert page.evaluate("document.body.dataset.charts") == "drawn"
    assert sorted(page.evaluate("Object.keys(window.portraitViews)")) == CHARTS
    empty = "[...document.querySelectorAll('.chart')].filter(d => !d.querySelector('svg'))"
    assert page.evaluate(f"{empty}.map(d => d.id)") == []
    assert watched.errors == []
    assert watched.warnings == []  # Vega warns of a chart it draws other than specified
    assert watched.outside == []


def lifecycle_counts(shop: ReportShop) -> dict[str, int]:
    """Persons per lifecycle value, with 0 for the catalog's values nobody has (as the API)."""
    with shop.engine.connect() as connection:
        listed = connection.execute(
            text(
                "SELECT \"values\" FROM tag_definitions WHERE run_id = :run AND key = 'lifecycle'"
            ),
            {"run": shop.runs[1]},
        ).scalar_one()
    counts = _counts(
        shop,
        "SELECT value, count(*) FROM profile_tags WHERE run_id = :run AND key = 'lifecycle' "
        "GROUP BY value",
    )
    return {value: 0 for value in json.loads(listed)} | counts


def _counts(shop: ReportShop, sql: str) -> dict[Any, int]:
    with shop.engine.connect() as connection:
        rows = connection.execute(text(sql), {"run": shop.runs[1]}).all()
    return {row[0] if len(row) == 2 else tuple(row[:-1]): int(row[-1]) for row in rows}


def test_the_report_draws_every_section_with_no_errors_and_no_outside_request(
    browser: Browser, report_server: str, report_shop: ReportShop
) -> None:
    with watched_page(browser, own=report_server) as watched:
        page = open_report(watched, f"{report_server}/report", report_shop.admin)
        drawn_everything(page, watched)
        assert page.text_content("h1") == "Persona report"
        assert page.query_selector("#ranges-note") is None  # an admin sees exact counts
        screenshot(page, "report-en")


def test_the_charts_show_the_store_numbers(
    browser: Browser, report_server: str, report_shop: ReportShop
) -> None:
    with watched_page(browser, own=report_server) as watched:
        page = open_report(watched, f"{report_server}/report", report_shop.admin)
        lifecycle = chart_data(page, "lifecycle")
        rfm = chart_data(page, "rfm_grid")
        persona_rfm = chart_data(page, "persona_rfm")
        audiences = chart_data(page, "audience_sizes")

    assert {row["value"]: row["count"] for row in lifecycle} == lifecycle_counts(report_shop)
    cells = _counts(
        report_shop,
        "SELECT r.value, f.value, count(*) FROM profile_tags r JOIN profile_tags f "
        "ON f.run_id = r.run_id AND f.person_idx = r.person_idx AND f.key = 'rfm_f' "
        "WHERE r.run_id = :run AND r.key = 'rfm_r' GROUP BY r.value, f.value",
    )
    assert {(str(row["r"]), str(row["f"])): row["count"] for row in rfm} == cells
    mix = _counts(
        report_shop,
        "SELECT p.value, s.value, count(*) FROM profile_tags p JOIN profile_tags s "
        "ON s.run_id = p.run_id AND s.person_idx = p.person_idx AND s.key = 'rfm_segment' "
        "WHERE p.run_id = :run AND p.key = 'persona' GROUP BY p.value, s.value",
    )
    assert {(row["persona"], row["value"]): row["count"] for row in persona_rfm} == mix
    with report_shop.engine.connect() as connection:
        sizes = connection.execute(text("SELECT name, run_id, persons FROM audience_sizes")).all()
    assert {(row["audience"], row["run"]): row["count"] for row in audiences} == {
        (name, run_id): persons for name, run_id, persons in sizes
    }
    assert {run for _, run, _ in sizes} == set(report_shop.runs)


def test_the_exported_file_draws_the_same_report_offline(
    browser: Browser, report_shop: ReportShop, tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    subprocess.run(
        [str(PORTRAIT), "report", "--out", str(out), "--lang", "zh-CN"],
        env={**os.environ, "PORTRAIT_DATABASE_URL": report_shop.url},
        check=True,
        capture_output=True,
    )
    with watched_page(browser, own=None) as watched:
        page = open_report(watched, out.as_uri(), None)
        drawn_everything(page, watched)
        assert page.text_content("h1") == "用户画像报告"
        lifecycle = chart_data(page, "lifecycle")
        screenshot(page, "report-export-zh-CN")
    assert {row["value"]: row["count"] for row in lifecycle} == lifecycle_counts(report_shop)
