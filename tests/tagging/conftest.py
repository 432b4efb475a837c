"""Fixtures of the tagging tests: hand-made shops written as CSV into tmp folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from store.db import make_engine

ID_KEY = "test-id-key-0123456789"


def write_csv(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    path.write_text("\n".join(line.strip() for line in text.strip().splitlines()) + "\n")
    return path


@pytest.fixture
def shop_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write a shop: shop_dir(orders="...csv text...", events="...") -> folder."""

    def make(**sources: str) -> Path:
        folder = tmp_path / "shop"
        for name, text in sources.items():
            write_csv(folder, name, text)
        return folder

    return make


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'portrait.db'}")


@pytest.fixture(scope="session")
def generated_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated shop of 3,000 users over 230 days (the shortest the generator makes)."""
    from tagging.generator import generate_shop

    return generate_shop(tmp_path_factory.mktemp("shop"), users=3_000, seed=11, days=230).out_dir
