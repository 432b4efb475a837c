"""The README is the front door: its commands are the ones CI runs, its catalog the real one."""

from __future__ import annotations

import re
from pathlib import Path

from tagging.catalog import BUILT_IN

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def _two_commands() -> list[str]:
    section = README.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_readme_has_the_two_commands() -> None:
    assert _two_commands() == [
        "python -m pip install -e . && portrait demo",
        "python -m pip install -e '.[dev]' && python -m pytest",
    ]


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert f"{_two_commands()[1]} || status=$?" in ci
    assert "python3 -m venv" in ci


def test_readme_catalog_lists_every_built_in_key() -> None:
    catalog = README.split("## Tag catalog", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| ([a-z0-9_, ]+) \|", catalog, flags=re.MULTILINE))
    keys = {k.strip() for cell in listed for k in cell.split(",")} - {"key"}
    assert keys == {d.key for d in BUILT_IN}
