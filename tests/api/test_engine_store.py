"""The API over a store written by the tagging engine itself: what it serves is what was tagged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from store.db import make_engine
from store.profiles.export import export_tags
from store.settings import Settings
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_for, graphql

pytestmark = pytest.mark.anyio

USERS = """user_id,birth_date,gender,region,member_level
u1,1996-02-01,F,East China,gold
u2,1980-07-15,M,North China,silver
"""
ORDERS = """order_id,user_id,ts,amount,channel
o1,u1,2026-06-01T19:00:00Z,100,app
o2,u1,2026-06-20T20:30:00Z,50,app
o3,u2,2026-03-01T08:00:00Z,300,web
"""
EVENTS = """event_id,user_id,device_id,event_type,ts,item_id,category,platform,os
e1,u1,d1,view,2026-06-01T18:50:00Z,i1,baby,app,ios
e2,,d1,add_to_cart,2026-06-01T18:55:00Z,i1,baby,app,ios
e3,u2,d2,view,2026-03-01T07:55:00Z,i9,outdoor,web,windows
"""
PROFILE = """
query ($userId: String!) {
  profile(userId: $userId) {
    personId lifecycle
    attributes { age ageBand gender region memberLevel }
    rfm { recencyDays frequency monetary segment }
    tags { key value score }
  }
}
"""


@pytest.fixture
async def tagged(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    shop = tmp_path / "shop"
    shop.mkdir()
    for name, text in (("users", USERS), ("orders", ORDERS), ("events", EVENTS)):
        (shop / f"{name}.csv").write_text(text)
    url = f"sqlite:///{tmp_path / 'portrait.db'}"
    engine = make_engine(url)
    options = RunOptions(shop, "test-id-key-0123456789", as_of=date(2026, 6, 30))
    run = run_tagging(engine=engine, options=options)
    expected = export_tags(engine=engine, run_id=run.run_id)
    async with client_for(create_app(Settings(database_url=url))) as client:
        yield client, expected


async def test_profile_serves_exactly_the_tags_the_run_wrote(tagged) -> None:
    client, expected = tagged
    profile = (await graphql(client, PROFILE, userId="u1"))["data"]["profile"]
    mine = expected[expected.user_id == "u1"]
    assert profile["personId"] == mine.person_id.iloc[0]
    served = sorted((t["key"], t["value"]) for t in profile["tags"])
    assert served == sorted(zip(mine.key, mine.value, strict=True))
    assert profile["lifecycle"] == "new"  # first order 29 days before as_of
    assert profile["rfm"] == {
        "recencyDays": 10,
        "frequency": 2,
        "monetary": 150.0,
        "segment": "loyal",  # R5 F5 M1
    }
    assert profile["attributes"] == {
        "age": 30,
        "ageBand": "25_34",
        "gender": "female",  # written F: attributes are read in the contract's words
        "region": "East China",
        "memberLevel": "gold",
    }


async def test_a_device_linked_to_a_user_is_the_same_person(tagged) -> None:
    client, _ = tagged
    by_user = (await graphql(client, PROFILE, userId="u2"))["data"]["profile"]
    assert by_user["lifecycle"] == "dormant"  # 121 days since 2026-03-01: past churn_risk
    assert ("preferred_category", "outdoor") in {(t["key"], t["value"]) for t in by_user["tags"]}
