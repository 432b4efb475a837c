"""`portrait report --out FILE` writes one page; its options are checked."""

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
    assert "<script src=" not in page and "<link rel=\"stylesheet\"" not in page


def test_an_unknown_language_is_refused_with_the_ones_there_are(
    report_shop: ReportShop, tmp_path: Path
) -> None:
    done = _report(report_shop, "--out", str(tmp_path / "r.html"), "--lang", "fr")

    assert done.returncode == 2
    assert "error: --lang 'fr' is not one of en, zh-CN" in done.stderr
    assert not (tmp_path / "r.html").exists()
