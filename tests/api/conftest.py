"""An in-process API over the standard hand-made shop (tests/factories.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from store.settings import Settings
from tests.api.client import client_for
from tests.factories import commit_shop


@pytest.fixture
def shop_run(engine: Engine) -> int:
    """The id of the committed run holding the standard shop."""
    return commit_shop(engine)


@pytest.fixture
async def client(store_url: str, shop_run: int) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        yield client


@pytest.fixture
async def empty_client(store_url: str, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a store that has no committed run yet."""
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        yield client
