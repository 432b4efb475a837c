"""A generated shop tagged twice (so that trends, drift and conversion after as_of exist),
with saved audiences and API keys, and `portrait serve` over it: built once for the report's
tests, which only read it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from playwright.sync_api import Browser
from sqlalchemy.engine import Engine

from store import keys
from store.audiences import saved as saved_audiences
from store.db import make_engine
from tagging.generator import generate_shop
from tagging.run import RunOptions, run_tagging
from tests.api.browser import chromium
from tests.api.test_serve import serving

ID_KEY = "test-id-key-0123456789"
USERS = 2_000
# The shop's data ends on 2026-10-31: the second run has a month of orders after its as_of.
AS_OF = (date(2026, 9, 1), date(2026, 10, 1))
AUDIENCES = {
    "active": "lifecycle:active",
    "baby buyers": "preferred_category:baby AND NOT lifecycle:lost",
    "loyal": "value_segment:high_value_loyal",
    "platinum new": "member_level:platinum AND lifecycle:new",
}


@dataclass(frozen=True)
class ReportShop:
    url: str  # the store's
    engine: Engine
    runs: tuple[int, int]
    admin: str  # API keys
    operator: str


@pytest.fixture(scope="package")
def report_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportShop]:
    folder = tmp_path_factory.mktemp("report-shop")
    generate_shop(folder / "shop", users=USERS, seed=11)
    url = f"sqlite:///{folder / 'portrait.db'}"
    engine = make_engine(url)
    first = run_tagging(
        engine=engine, options=RunOptions(folder / "shop", ID_KEY, as_of=AS_OF[0])
    ).run_id
    with engine.begin() as connection:
        for name, expression in AUDIENCES.items():
            saved_audiences.save(connection=connection, name=name, expression=expression, by="t")
    saved_audiences.measure_all(engine=engine, run_id=first)
    second = run_tagging(  # measures the saved audiences itself
        engine=engine, options=RunOptions(folder / "shop", ID_KEY, as_of=AS_OF[1])
    ).run_id
    admin, _ = keys.create(engine=engine, role="admin", name="admin-team")
    operator, _ = keys.create(engine=engine, role="operator", name="ops-team")
    yield ReportShop(url, engine, (first, second), admin, operator)
    engine.dispose()


@pytest.fixture(scope="package")
def report_server(
    report_shop: ReportShop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`portrait serve` over the shop; its URL."""
    env = {
        **os.environ,
        "PORTRAIT_DATABASE_URL": report_shop.url,
        "PORTRAIT_ID_KEY": ID_KEY,
    }
    log = tmp_path_factory.mktemp("report-serve") / "serve.log"
    with serving(env, log) as url:
        yield url


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as found:
        yield found
