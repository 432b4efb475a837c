"""Live tags against `portrait serve` as a real process: an order posted to /events moves a
lapsing buyer into a saved audience, the change reaches a WebSocket subscriber, and their
profile shows the live values and the run they sit on."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest
from sqlalchemy import Connection, select
from sqlalchemy.engine import Engine

from store import basket, keys
from store.audiences import bitmaps
from store.audiences import saved as saved_audiences
from store.live import log as live
from store.live import profiles as live_profiles
from store.live.profiles import RECOMMENDED
from store.models import PersonIdentifier, table_of
from store.profiles import reads as profile_reads
from store.profiles.reads import PersonRow
from store.runs import reads as run_reads
from store.runs.reads import RunRow
from tagging.generator import generate_shop
from tagging.live import shopping
from tagging.live.rules import MAINTAINED
from tagging.live.shopping import RunShopping
from tagging.run import RunOptions, run_tagging
from tests.api.client import subscribed
from tests.api.test_serve import serving

ID_KEY = "test-id-key-0123456789"
WAIT_SECONDS = 30
CHANGES = """
subscription Changes($audience: String!) {
  audienceChanges(savedAudienceId: $audience, after: "0") {
    ... on MembershipChange { id personId change why }
  }
}
"""
PROFILE = """
query Profile($user: String!) {
  profile(userId: $user) {
    personId lifecycle
    rfm { recencyDays frequency monetary }
    live { run day keys }
    recommendations { item { id } score because { rank } }
  }
}
"""
AMOUNT = 88.4
_ids = table_of(PersonIdentifier)


class Lapsing(NamedTuple):
    """A buyer the run tags churn_risk, the user id they order with, and the run's best item
    rule that fires for one item they have not bought (its antecedent and consequent)."""

    run: RunRow
    person: PersonRow
    user_id: str
    rule: tuple[str, str]


def _lapsing(connection: Connection) -> Lapsing:
    run = run_reads.current_run(connection=connection)
    assert run is not None
    members = bitmaps.value_members(connection=connection, run_id=run.id, key="lifecycle")
    found = connection.execute(
        select(_ids.c.person_idx, _ids.c.identifier)
        .where(_ids.c.person_idx.in_(list(members["churn_risk"])), _ids.c.kind == "user_id")
        .order_by(_ids.c.person_idx, _ids.c.identifier)
    ).first()
    assert found is not None
    (person,) = profile_reads.persons_by_idx(
        connection=connection, run_id=run.id, person_idxs=[found.person_idx]
    )
    kept = run_reads.run_file(connection=connection, run_id=run.id, name=shopping.FILE)
    bought = RunShopping(kept).of(found.person_idx).bought
    rule = next(
        r
        for r in basket.rules(connection=connection, run_id=run.id, level="item")
        if len(r.antecedents) == 1 and not bought & {*r.antecedents, *r.consequents}
    )
    return Lapsing(run, person, found.identifier, (rule.antecedents[0], rule.consequents[0]))


@pytest.fixture
def lapsing(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Lapsing:
    shop = generate_shop(tmp_path_factory.mktemp("shop"), users=1_000, seed=5, days=230).out_dir
    run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))
    with engine.begin() as connection:
        for name, expression in (
            ("comeback", "lifecycle IN (active, reactivated)"),
            ("lapsed", "lifecycle:churn_risk"),
        ):
            saved_audiences.save(connection=connection, name=name, expression=expression, by="t")
    with engine.connect() as connection:
        return _lapsing(connection)


@pytest.fixture
def server(store_url: str, lapsing: Lapsing, tmp_path: Path) -> Iterator[str]:
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url, "PORTRAIT_ID_KEY": ID_KEY}
    with serving(env, tmp_path / "serve.log") as url:
        yield url


def test_an_order_posted_moves_the_buyer_into_a_saved_audience_and_their_profile(
    server: str, engine: Engine, lapsing: Lapsing
) -> None:
    analyst, _ = keys.create(engine=engine, role="analyst", name="crm")
    ingest, _ = keys.create(engine=engine, role="ingest", name="shop")
    day = lapsing.run.as_of.date()
    order = {
        "source": "orders",
        "order_id": "live-o-1",
        "user_id": lapsing.user_id,
        "ts": f"{day} 00:00:01",
        "amount": AMOUNT,
    }
    line = {
        "source": "order_items",
        "order_id": "live-o-1",
        "item_id": lapsing.rule[0],
        "quantity": 1,
        "price": AMOUNT,
    }
    with subscribed(
        server, analyst, CHANGES, {"audience": "comeback"}, wait=WAIT_SECONDS
    ) as socket:
        posted = httpx.post(
            f"{server}/events",
            json=[order, line],
            headers={"authorization": f"Bearer {ingest}"},
        )
        change = json.loads(socket.recv(WAIT_SECONDS))["payload"]["data"]["audienceChanges"]
    with httpx.Client(base_url=server, headers={"authorization": f"Bearer {analyst}"}) as client:
        profile = client.post(
            "/graphql", json={"query": PROFILE, "variables": {"user": lapsing.user_id}}
        ).json()
    with engine.connect() as connection:
        logged = live_profiles.progress(connection=connection)
        (row,) = live_profiles.overlay_on(connection=connection, run_id=lapsing.run.id)

    features = lapsing.person.features or {}
    recency = int(features["recency_days"])
    assert posted.json() == {"accepted": 2, "duplicates": 0, "quarantined": 0, "errors": []}
    assert change == {
        "id": str(_entered_id(engine)),
        "personId": lapsing.person.person_id,
        "change": "ENTERED",
        "why": "lifecycle",
    }
    assert (
        profile
        == {
            "data": {
                "profile": {
                    "personId": lapsing.person.person_id,
                    # The batch rule: an order after a gap of over 90 days is a reactivation.
                    "lifecycle": "reactivated" if recency > 90 else "active",
                    "rfm": {
                        "recencyDays": 0,
                        "frequency": int(features["frequency"]) + 1,
                        "monetary": round(features["monetary"] + AMOUNT, 2),
                        # (r, f, m scores: tests/tagging/test_live_reconciliation.py)
                    },
                    "live": {
                        "run": str(lapsing.run.id),
                        "day": str(day),
                        "keys": sorted(MAINTAINED),
                    },
                    # The run's rules fired on the order's item (checked against the batch rule in
                    # tests/tagging/test_live_reconciliation.py), as the live path keeps them.
                    "recommendations": [
                        {"item": {"id": item}, "score": score, "because": {"rank": rank}}
                        for item, score, rank in row.facts[RECOMMENDED][:10]
                    ],
                }
            }
        }
    )
    assert logged is not None and (logged.orders_through, logged.day) == (1, day)
    assert lapsing.rule[1] in {item for item, _, _ in row.facts[RECOMMENDED]}


def _entered_id(engine: Engine) -> int:
    """The id of the change that put the person into `comeback` (the log has both audiences)."""
    with engine.connect() as connection:
        found = live.changes_after(connection=connection, after=0, limit=10, audience="comeback")
    assert [c.change for c in found] == ["entered"]
    return found[0].id
