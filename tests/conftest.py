"""Fixtures every package's tests may use: a fresh store per test, on SQLite and, when CI
provides one (PORTRAIT_TEST_POSTGRES_URL, see .ci/run), on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from store.db import make_engine

POSTGRES_URL = os.environ.get("PORTRAIT_TEST_POSTGRES_URL")


def _reset_postgres(url: str) -> None:
    engine = make_engine(url)
    SQLModel.metadata.drop_all(engine)
    SQLModel.metadata.create_all(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store: a SQLite file in the test's directory, or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portrait.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PORTRAIT_TEST_POSTGRES_URL is not set (.ci/run sets it)")
    _reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL
    _reset_postgres(POSTGRES_URL)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    """An engine on `store_url`, with the tables created."""
    engine = make_engine(store_url)
    yield engine
    engine.dispose()
