"""attribution over HTTP: the hand-computed three-channel shop, as each role sees it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from store.settings import Settings
from tagging.run import RunOptions, run_tagging
from tests.api.client import client_as, client_for, graphql
from tests.api.test_readme_example import README

pytestmark = pytest.mark.anyio

# The textbook paths: u0 A -> B -> order (100), u1 A -> C -> nothing, u2 B -> order (50).
# Markov removal effects A 1/2, B 1, C 0 (tests/tagging/test_attribution.py): shares 1/3, 2/3.
ORDERS = """order_id,user_id,ts,amount
o1,u0,2026-06-04T10:00:00Z,100
o2,u2,2026-06-04T10:00:00Z,50
"""
TOUCHES = """user_id,ts,channel,campaign,kind,cost
u0,2026-06-02T10:00:00Z,A,spring,click,1.5
u0,2026-06-03T10:00:00Z,B,,open,0.5
u1,2026-06-02T10:00:00Z,A,spring,click,1.5
u1,2026-06-03T10:00:00Z,C,,open,
u2,2026-06-02T10:00:00Z,B,,send,0.5
u9,2026-06-02T10:00:00Z,A,spring,glance,1
"""
ATTRIBUTION = """
query ($model: AttributionModel!, $level: AttributionLevel!, $audience: TagExpression) {
  attribution(model: $model, level: $level, audience: $audience) {
    ... on Attribution {
      model level windowDays conversions untouchedConversions
      credits { key conversions revenue cost roi persons personsRange { low high } }
    }
    ... on AttributionError { message }
  }
}
"""


@pytest.fixture
async def client(
    store_url: str, engine: Engine, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text(ORDERS)
    (shop / "touches.csv").write_text(TOUCHES)
    run_tagging(engine=engine, options=RunOptions(shop, "test-id-key-0123456789"))
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        yield client


def _credit(key: str, conversions: float, revenue: float, cost: float | None, persons: int) -> dict:
    roi = None if cost is None else pytest.approx((revenue - cost) / cost)
    return {
        "key": key,
        "conversions": pytest.approx(conversions),
        "revenue": pytest.approx(revenue),
        "cost": cost,
        "roi": roi,
        "persons": persons,
        "personsRange": {"low": persons, "high": persons},
    }


async def test_markov_credit_per_channel_matches_the_hand_computed_shares(
    client: httpx.AsyncClient,
) -> None:
    body = await graphql(client, ATTRIBUTION, model="MARKOV", level="CHANNEL")
    assert body["data"]["attribution"] == {
        "model": "MARKOV",
        "level": "CHANNEL",
        "windowDays": 30.0,
        "conversions": 2,
        "untouchedConversions": 0,
        "credits": [
            _credit("B", 4 / 3, 100.0, 1.0, 2),
            _credit("A", 2 / 3, 50.0, 3.0, 2),
            _credit("C", 0.0, 0.0, None, 1),
        ],
    }


async def test_last_touch_by_campaign_leaves_touches_without_one_out(
    client: httpx.AsyncClient,
) -> None:
    # At campaign level only the A touches (campaign spring) count: u0's order is spring's.
    body = await graphql(client, ATTRIBUTION, model="LAST_TOUCH", level="CAMPAIGN")
    found = body["data"]["attribution"]
    assert (found["conversions"], found["untouchedConversions"]) == (1, 1)
    assert found["credits"] == [_credit("spring", 1.0, 100.0, 3.0, 2)]


async def test_an_audience_keeps_its_own_persons_touches_and_orders(
    client: httpx.AsyncClient,
) -> None:
    # monetary > 60 is u0 alone: one path A -> B -> order, each step indispensable (removal
    # effects 1 and 1): half the order and half its 100 each.
    body = await graphql(
        client, ATTRIBUTION, model="MARKOV", level="CHANNEL", audience="monetary > 60"
    )
    credits = body["data"]["attribution"]["credits"]
    assert [(c["key"], c["conversions"], c["revenue"]) for c in credits] == [
        ("A", pytest.approx(0.5), pytest.approx(50.0)),
        ("B", pytest.approx(0.5), pytest.approx(50.0)),
    ]


async def test_an_operator_sees_ranges_and_no_small_audience(
    client: httpx.AsyncClient, store_url: str, engine: Engine
) -> None:
    settings = Settings(database_url=store_url, min_audience=2)
    async with client_as(settings, engine, role="operator") as operator:
        body = await graphql(operator, ATTRIBUTION, model="MARKOV", level="CHANNEL")
        credits = body["data"]["attribution"]["credits"]
        # 3 persons: every count of persons is under 2 or leaves fewer than 2 outside it.
        assert [(c["key"], c["conversions"], c["persons"]) for c in credits] == [
            ("B", None, None),
            ("A", None, None),
            ("C", None, None),
        ]
        assert credits[0]["personsRange"] == {"low": 2, "high": 3}
        body = await graphql(
            operator, ATTRIBUTION, model="MARKOV", level="CHANNEL", audience="lifecycle:new"
        )
        assert body["data"]["attribution"]["message"].startswith(
            "attribution: the audience is under the minimum audience size (2)"
        )


# 30 buyers of 10-39 touched by A, one of 999 touched by B, ten of 500-509 touched by C (who
# keep both audiences below away from the whole run).
WIDE_ORDERS = "order_id,user_id,ts,amount\n" + "".join(
    f"o{i},w{i},2026-06-04T10:00:00Z,{999 if i == 30 else 10 + i if i < 30 else 469 + i}\n"
    for i in range(41)
)
WIDE_TOUCHES = "user_id,ts,channel\n" + "".join(
    f"w{i},2026-06-02T10:00:00Z,{'B' if i == 30 else 'A' if i < 30 else 'C'}\n" for i in range(41)
)
PADDED = "monetary <= 100 OR monetary >= 999"


async def test_an_operator_cannot_difference_one_buyers_credit_out_of_two_audiences(
    store_url: str, engine: Engine, tmp_path: Path
) -> None:
    """Attribution within `P OR T` against within `P` gives T's channel and order value; the
    audience goes through the operator's ledger, and the near-duplicate is refused."""
    shop = tmp_path / "wide"
    shop.mkdir()
    (shop / "orders.csv").write_text(WIDE_ORDERS)
    (shop / "touches.csv").write_text(WIDE_TOUCHES)
    run_tagging(engine=engine, options=RunOptions(shop, "test-id-key-0123456789"))
    settings = Settings(database_url=store_url, min_audience=5)
    for role, refused in (("operator", True), ("analyst", False)):
        async with client_as(settings, engine, role=role) as client:
            padding = await graphql(
                client, ATTRIBUTION, model="LAST_TOUCH", level="CHANNEL", audience="monetary <= 100"
            )
            assert [c["key"] for c in padding["data"]["attribution"]["credits"]] == ["A"]
            padded = await graphql(
                client, ATTRIBUTION, model="LAST_TOUCH", level="CHANNEL", audience=PADDED
            )
        if refused:
            assert padded["data"] is None
            assert padded["errors"][0]["message"].startswith(
                "this answer and an earlier one of this key differ by fewer than 5 persons"
            )
        else:
            credits = padded["data"]["attribution"]["credits"]
            assert {c["key"]: c["revenue"] for c in credits} == {"A": 735.0, "B": 999.0}


async def test_a_run_without_touches_says_so(
    store_url: str, engine: Engine, tmp_path: Path
) -> None:
    shop = tmp_path / "plain"
    shop.mkdir()
    (shop / "orders.csv").write_text(ORDERS)
    run_tagging(engine=engine, options=RunOptions(shop, "test-id-key-0123456789"))
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        body = await graphql(client, ATTRIBUTION, model="LINEAR", level="CHANNEL")
    assert body["data"]["attribution"] == {
        "message": "run 1 has no touches to attribute: its source folder had no touches file "
        "(or one without usable rows)"
    }


async def test_the_readme_example_answers_as_documented(client: httpx.AsyncClient) -> None:
    (example,) = [
        e for e in re.findall(r"```graphql\n(.*?)```", README, re.S) if "attribution(" in e
    ]
    # At campaign level only spring's touches count; lifecycle:new is the buyers u0 and u2:
    # u0's spring -> order (Markov: all of it to spring), u2's order untouched.
    body = await graphql(client, example.replace("lifecycle:active", "lifecycle:new"))
    assert body == {
        "data": {
            "attribution": {
                "conversions": 1,
                "untouchedConversions": 1,
                "credits": [
                    {
                        "key": "spring",
                        "conversions": 1.0,
                        "revenue": 100.0,
                        "cost": 1.5,
                        "roi": pytest.approx(98.5 / 1.5),
                        "persons": 1,
                        "personsRange": {"low": 1, "high": 1},
                    }
                ],
                "holdouts": [],
            }
        }
    }


async def test_a_window_out_of_range_is_an_error_naming_it(client: httpx.AsyncClient) -> None:
    query = "{ attribution(window: 0) { ... on AttributionError { message } } }"
    body = await graphql(client, query)
    assert body["data"]["attribution"] == {"message": "window must be 1-365 days, got 0"}


async def test_another_window_is_worked_out_on_demand(client: httpx.AsyncClient) -> None:
    # One day: only u0's B (a day before its order) is on a path that ends in an order; u0's A
    # and u2's B (two days before theirs) fall out.
    query = """{ attribution(model: LINEAR, window: 1) {
        ... on Attribution { windowDays credits { key conversions } } } }"""
    body = await graphql(client, query)
    assert body["data"]["attribution"] == {
        "windowDays": 1.0,
        "credits": [{"key": "B", "conversions": 1.0}],
    }


HOLDOUT_TOUCHES = TOUCHES + "u3,2026-06-02T10:00:00Z,A,spring,holdout,\n"
# Markov: spring is on u0's path alone (u2's order has no campaign touch): its 100.00, cost
# 1.50 x 2 contacts, ROI 97 / 3. Holdout: 1 of 2 contacted ordered, 0 of 1 held out: lift 0.5,
# standard error sqrt(0.5 x 0.5 / 2) = 0.354, interval 0.5 -/+ 1.96 x 0.354.
CLI_LINES = [
    "┃ campaign ┃ conversions ┃ revenue ┃ cost ┃ ROI   ┃ persons ┃",
    "│ spring   │ 1.0         │ 100.00  │ 3.00 │ 32.33 │ 2       │",
    "┃ campaign ┃ contacted ┃ held out ┃ lift   ┃ 95% interval      ┃ caused ┃ markov credit ┃",
    "│ spring   │ 2         │ 1        │ +50.0% │ -19.3% .. +119.3% │ 1.0    │ 1.0           │",
]


def test_the_command_line_prints_credit_and_holdouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # spring held u3 out; of those it contacted, u0 ordered within 30 days and u1 did not.
    monkeypatch.setenv("PORTRAIT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("COLUMNS", "250")
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "orders.csv").write_text(ORDERS)
    (shop / "touches.csv").write_text(HOLDOUT_TOUCHES)
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--source", str(shop)]).exit_code == 0
    result = runner.invoke(app, ["attribution", "--model", "markov", "--level", "campaign"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if "spring" in line or "┃" in line] == CLI_LINES
