"""An in-process API over the standard hand-made shop (tests/factories.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from api.app import create_app
from store.settings import Settings
from tagging.basket import BasketParams
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_for
from tests.factories import commit_shop, write_basket_shop


@pytest.fixture
def shop_run(engine: Engine) -> int:
    """The id of the committed run holding the standard shop."""
    return commit_shop(engine)


@pytest.fixture
async def client(store_url: str, shop_run: int) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=store_url)
    async with client_for(create_app(settings)) as client:
        yield client


@pytest.fixture
async def empty_client(store_url: str, engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """The API over a store that has no committed run yet."""
    settings = Settings(database_url=store_url)
    async with client_for(create_app(settings)) as client:
        yield client


@pytest.fixture
async def basket_client(
    store_url: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the hand-counted basket shop (tests/factories.py), tagged by a real run."""
    shop = write_basket_shop(tmp_path / "shop")
    params = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1)
    run_tagging(engine=engine, options=RunOptions(shop, "test-id-key-0123456789", basket=params))
    settings = Settings(database_url=store_url)
    async with client_for(create_app(settings)) as client:
        yield client
