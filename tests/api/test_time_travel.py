"""Time travel over HTTP: kept runs by `run`, who entered and left between runs, a person's
history of one key, pruned runs, and roles (operators get ranges, never members)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from store.settings import Settings
from tests.api.client import client_as, graphql
from tests.factories import PersonSpec, commit_run

pytestmark = pytest.mark.anyio


def person(name: str, lifecycle: str) -> PersonSpec:
    return PersonSpec(
        f"p-{name}", {"user_id": [f"u-{name}"]}, tags=[("lifecycle", lifecycle, None)]
    )


@pytest.fixture
def runs(engine: Engine) -> tuple[int, int]:
    """Ann leaves "active" (lost), Bob stays, Cy arrives (new in the second run)."""
    first = commit_run(engine, [person("ann", "active"), person("bob", "active")])
    second = commit_run(
        engine, [person("ann", "churn_risk"), person("bob", "active"), person("cy", "active")]
    )
    return first, second


DIFF = """
query ($from: ID!, $to: ID!) {
  audienceDiff(expression: "lifecycle:active", from: $from, to: $to) {
    entered left stayed enteredRange { low high }
    from { id } to { id }
    enteredMembers { totalCount edges { node { personId lifecycle run { id } } } }
    leftMembers { totalCount edges { node { personId lifecycle run { id } } } }
  }
}
"""
COUNTS = """
query ($from: ID!, $to: ID!) {
  audienceDiff(expression: "lifecycle:active", from: $from, to: $to) {
    entered left stayed enteredRange { low high } leftRange { low high }
  }
}
"""
PROFILE = """
query ($run: ID) {
  profile(userId: "u-ann", run: $run) {
    lifecycle run { id } history(key: "lifecycle") { run value }
  }
}
"""


async def test_an_analyst_sees_who_entered_and_left_as_of_each_run(
    store_url: str, engine: Engine, runs: tuple[int, int]
) -> None:
    first, second = runs
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role="analyst") as client:
        body = await graphql(client, DIFF, **{"from": str(first), "to": str(second)})
    assert body == {
        "data": {
            "audienceDiff": {
                "entered": 1,
                "left": 1,
                "stayed": 1,
                "enteredRange": {"low": 1, "high": 1},
                "from": {"id": str(first)},
                "to": {"id": str(second)},
                "enteredMembers": {
                    "totalCount": 1,
                    "edges": [
                        {
                            "node": {
                                "personId": "p-cy",
                                "lifecycle": "active",
                                "run": {"id": str(second)},
                            }
                        }
                    ],
                },
                "leftMembers": {
                    "totalCount": 1,
                    "edges": [
                        {
                            "node": {
                                "personId": "p-ann",
                                "lifecycle": "active",
                                "run": {"id": str(first)},
                            }
                        }
                    ],
                },
            }
        }
    }


async def test_an_operator_gets_ranges_of_a_diff_and_no_members(
    store_url: str, engine: Engine, runs: tuple[int, int]
) -> None:
    first, second = runs
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role="operator") as client:
        counts = await graphql(client, COUNTS, **{"from": str(first), "to": str(second)})
        members = await graphql(client, DIFF, **{"from": str(first), "to": str(second)})
    # 3 persons in the later run, 2 in the earlier, a minimum of 50: both ends are small.
    assert counts == {
        "data": {
            "audienceDiff": {
                "entered": None,
                "left": None,
                "stayed": None,
                "enteredRange": {"low": 0, "high": 3},
                "leftRange": {"low": 0, "high": 2},
            }
        }
    }
    assert members["data"] is None
    assert members["errors"][0]["message"].startswith("audience members needs the analyst role")


async def test_a_profile_as_of_a_kept_run_and_its_history(
    store_url: str, engine: Engine, runs: tuple[int, int]
) -> None:
    first, second = runs
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role="analyst") as client:
        then = await graphql(client, PROFILE, run=str(first))
        now = await graphql(client, PROFILE)
    history = [{"run": str(first), "value": "active"}, {"run": str(second), "value": "churn_risk"}]
    assert then == {
        "data": {"profile": {"lifecycle": "active", "run": {"id": str(first)}, "history": history}}
    }
    assert now["data"]["profile"] == {
        "lifecycle": "churn_risk",
        "run": {"id": str(second)},
        "history": history,
    }


async def test_a_request_reads_one_run(
    store_url: str, engine: Engine, runs: tuple[int, int]
) -> None:
    first, second = runs
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role="analyst") as client:
        body = await graphql(
            client,
            f'{{ a: audience(expression: "lifecycle:active", run: "{first}") {{ count }} '
            f'b: audience(expression: "lifecycle:active", run: "{second}") {{ count }} }}',
        )
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        f"this request reads run {first} already; a request reads one run: ask for run"
        f" {second} in a request of its own"
    )


async def test_a_pruned_run_is_listed_and_refused(
    store_url: str, engine: Engine, runs: tuple[int, int]
) -> None:
    first, second = runs
    third = commit_run(engine, [person("bob", "active")], keep_runs=2)
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role="analyst") as client:
        listed = await graphql(client, "{ runs { id status storedBytes } }")
        asked = await graphql(
            client, f'{{ audience(expression: "lifecycle:active", run: "{first}") {{ count }} }}'
        )
    statuses = {r["id"]: (r["status"], r["storedBytes"] > 0) for r in listed["data"]["runs"]}
    assert statuses == {
        str(first): ("PRUNED", False),
        str(second): ("COMMITTED", True),
        str(third): ("COMMITTED", True),
    }
    assert asked["errors"][0]["message"] == (
        f"run {first} was pruned: the store keeps the newest PORTRAIT_KEEP_RUNS committed runs;"
        " `portrait runs` lists them"
    )
