"""A shop written in Chinese, end to end: GBK users, Chinese categories and regions, Beijing time,
served by the API (expressions, profiles, distributions) and exported as Excel opens it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from store.db import make_engine
from store.settings import Settings
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_for, graphql

pytestmark = pytest.mark.anyio

USERS = (
    "用户ID,性别,地区,城市,会员等级\n"
    "u1,女,华东,上海,金卡\nu2,男,华南,广州,银卡\nu3,女,华东,杭州,金卡\n"
)
ORDERS = (
    "订单号,用户ID,下单时间,实付金额\n"
    "1,u1,2026/06/01 20:30:00,¥128.00\n"
    "2,u2,2026/06/02 09:00:00,¥56.50\n"
    '3,u3,2026/06/03 21:15:00,"¥1,024.00"\n'
)
EVENTS = (
    "user_id,event_type,ts,item_id,category\n"
    "u1,浏览,2026-06-01 20:00:00,i1,母婴\nu1,加购,2026-06-01 20:10:00,i1,母婴\n"
    "u2,浏览,2026-06-02 08:50:00,i2,户外\nu3,浏览,2026-06-03 21:00:00,i3,母婴\n"
)
AUDIENCE = """
query ($e: TagExpression!) {
  audience(expression: $e) { count breakdown(key: "city") { value count } }
}
"""
PROFILE = """
query ($userId: String!) {
  profile(userId: $userId) {
    attributes { gender region memberLevel }
    tags { key value }
  }
}
"""
DISTRIBUTION = """
query {
  tagDistribution(key: "preferred_category") {
    ... on TagDistribution { values { value count } }
  }
}
"""


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "users.csv").write_bytes(USERS.encode("gbk"))
    (shop / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (shop / "events.csv").write_text(EVENTS, encoding="utf-8")
    (shop / "shop.toml").write_text('[shop]\ntimezone = "Asia/Shanghai"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'portrait.db'}"
    run_tagging(engine=make_engine(url), options=RunOptions(shop, "test-id-key-0123456789"))
    async with client_for(create_app(Settings(database_url=url))) as served:
        yield served


async def test_chinese_values_are_selected_broken_down_and_shown(
    client: httpx.AsyncClient,
) -> None:
    found = await graphql(client, AUDIENCE, e="preferred_category:母婴 AND region:华东")
    assert "errors" not in found, found
    assert found["data"]["audience"] == {
        "count": 2,
        "breakdown": [{"value": "上海", "count": 1}, {"value": "杭州", "count": 1}],
    }
    profile = (await graphql(client, PROFILE, userId="u1"))["data"]["profile"]
    assert profile["attributes"] == {"gender": "female", "region": "华东", "memberLevel": "金卡"}
    tags = {(t["key"], t["value"]) for t in profile["tags"]}
    assert {("gender", "female"), ("region", "华东"), ("purchase_time_slot", "evening")} <= tags
    values = (await graphql(client, DISTRIBUTION))["data"]["tagDistribution"]["values"]
    assert values == [{"value": "母婴", "count": 2}, {"value": "户外", "count": 1}]


async def test_an_unknown_chinese_value_is_named_with_the_closest_known(
    client: httpx.AsyncClient,
) -> None:
    found = await graphql(client, AUDIENCE, e="preferred_category:母")
    assert "母婴" in found["errors"][0]["message"]


def test_csv_export_opens_in_excel_with_its_chinese(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (shop / "events.csv").write_text(EVENTS, encoding="utf-8")
    env = {**os.environ, "PORTRAIT_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    portrait = Path(sys.executable).parent / "portrait"
    for args in (["run", "--source", str(shop)], ["export", "--out", str(tmp_path / "t.csv")]):
        done = subprocess.run([str(portrait), *args], env=env, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
    data = (tmp_path / "t.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    lines = data.decode("utf-8-sig").splitlines()
    assert sum(",preferred_category,母婴," in line for line in lines) == 2
