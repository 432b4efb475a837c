"""The layout's dependency rule, checked on every module's imports: api -> store, api -> tagging
(work done on demand), tagging -> store; store imports neither, tagging never imports api; and
no package reaches into another's private names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "tagging", "store")
ALLOWED = {"api": {"api", "store", "tagging"}, "tagging": {"tagging", "store"}, "store": {"store"}}


def _imports(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every absolute import in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names], node.lineno


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _violations() -> list[str]:
    found: list[str] = []
    for path in _modules():
        own = path.relative_to(ROOT).parts[0]
        for module, names, line in _imports(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line}"
            if top in PACKAGES and top not in ALLOWED[own]:
                found.append(f"{where}: {own} imports {module}")
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if top in PACKAGES and top != own and private:
                found.append(f"{where}: {own} takes {module}'s private {', '.join(private)}")
    return found


def test_every_module_keeps_the_dependency_direction() -> None:
    assert _violations() == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "store" / "bad.py").write_text("from api.app import create_app\n")
    (tmp_path / "api" / "peek.py").write_text("from tagging.clean import _age\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert _violations() == [
        "api/peek.py:1: api takes tagging.clean's private _age",
        "store/bad.py:1: store imports api.app",
    ]
