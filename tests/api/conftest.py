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
    # No audience index: its build would run beside the requests these tests watch.
    # tests/api/test_audiences.py serves with and without it.
    settings = Settings(database_url=store_url, audience_index="off")
    async with client_for(create_app(settings)) as client:
        yield client


@pytest.fixture
async def empty_client(store_url: str, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a store that has no committed run yet."""
    settings = Settings(database_url=store_url, audience_index="off")
    async with client_for(create_app(settings)) as client:
        yield client
