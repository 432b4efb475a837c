"""`portrait report --out FILE` writes one page; `portrait demo` says where the report is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.api.report.conftest import ReportShop

PORTRAIT = Path(sys.executable).with_name("portrait")


def _report(shop: ReportShop, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PORTRAIT), "report", *args],
        env={**os.environ, "PORTRAIT_DATABASE_URL": shop.url},
        capture_output=True,
        text=True,
    )


def test_an_operator_export_shows_small_counts_as_ranges(
    report_shop: ReportShop, tmp_path: Path
) -> None:
    out = tmp_path / "shared" / "report.html"
    done = _report(report_shop, "--out", str(out), "--operator")

    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")
    assert f"wrote the report of run {report_shop.runs[1]} to {out}" in done.stdout
    assert 'id="ranges-note"' in page
    assert "<script src=" not in page and '<link rel="stylesheet"' not in page


def test_an_unknown_language_is_refused_with_the_ones_there_are(
    report_shop: ReportShop, tmp_path: Path
) -> None:
    done = _report(report_shop, "--out", str(tmp_path / "r.html"), "--lang", "fr")

    assert done.returncode == 2
    assert "error: --lang 'fr' is not one of en, zh-CN" in done.stderr
    assert not (tmp_path / "r.html").exists()


def test_the_demo_prints_the_report_address_beside_graphiqls(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(PORTRAIT), "demo", "--users", "300", "--no-serve", "--port", "8123"],
        env={**os.environ, "PORTRAIT_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    report = lines.index(
        "The persona report: http://127.0.0.1:8123/report (in Chinese: /report?lang=zh-CN)"
    )
    assert lines[report + 1] == "Open http://127.0.0.1:8123/graphql and paste:"
