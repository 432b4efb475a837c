"""personas, persona, Profile.persona and scores, and drift over HTTP, on runs written by hand."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store.runs import drift
from tests.api.client import graphql
from tests.api.test_readme_example import _examples
from tests.factories import DEFINITIONS, PersonSpec, commit_run, definition

pytestmark = pytest.mark.anyio

PERSONAS = """
{ personas { id name description size share topTags { key value share lift }
             centroid { feature value } } }
"""
PERSONA = "query ($id: ID!) { persona(id: $id) { id name size } }"
PROFILE = """
query ($id: ID) {
  profile(personId: $id) {
    persona { id name }
    scores { churnRisk repurchase30d brandLoyalty priceSensitivity promoAffinity socialSharer
             noveltySeeker }
  }
}
"""
DRIFT = """
query ($run: ID) {
  drift(runId: $run) { runId previousRunId threshold flagged keys { key psi flagged } }
}
"""
KEYS = [
    *DEFINITIONS,
    definition("persona", "persona", ["evening_baby", "night_owls"]),
    definition("brand_loyalty", "psychographic", ["low", "mid", "high"], value_type="score"),
]
PERSONA_ROWS = pd.DataFrame(
    {
        "persona_id": [1, 2],
        "name": ["evening_baby", "night_owls"],
        "description": ["2 buyers (66.7%); most distinguishing: ...", "1 buyer (33.3%)"],
        "size": [2, 1],
        "share": [2 / 3, 1 / 3],
        "top_tags": [
            [{"key": "preferred_category", "value": "baby", "share": 1.0, "lift": 1.5}],
            [],
        ],
        "centroid": [
            {"night_order_share": 0.0, "frequency": 5.5},
            {"night_order_share": 0.9, "frequency": 2.0},
        ],
    }
)
ANN = PersonSpec(
    "p-ann",
    tags=[
        ("persona", "evening_baby", None),
        ("churn_risk", "low", 0.12),
        ("brand_loyalty", "high", 0.81),
        ("preferred_category", "baby", 0.5),
    ],
)
BOB = PersonSpec("p-bob", tags=[("persona", "night_owls", None), ("churn_risk", "high", 0.9)])
CY = PersonSpec("p-cy", tags=[("preferred_category", "baby", 1.0)])


@pytest.fixture
def runs(engine: Engine) -> tuple[int, int]:
    """A run, then one where Ann became a night owl and Cy prefers outdoor to baby."""
    first = commit_run(engine, [ANN, BOB, CY], definitions=KEYS, personas=PERSONA_ROWS)
    owls = [
        PersonSpec(p.person_id, tags=[("persona", "night_owls", None), *p.tags[1:]])
        for p in (ANN, BOB)
    ]
    outdoor = PersonSpec("p-cy", tags=[("preferred_category", "outdoor", 1.0)])
    second = commit_run(engine, [*owls, outdoor], definitions=KEYS, personas=PERSONA_ROWS)
    drift.measure(engine=engine, run_id=second)
    return first, second


async def test_personas_list_the_current_runs_personas(
    client: httpx.AsyncClient, runs: Any
) -> None:
    body = await graphql(client, PERSONAS)
    assert body["data"]["personas"] == [
        {
            "id": "1",
            "name": "evening_baby",
            "description": "2 buyers (66.7%); most distinguishing: ...",
            "size": 2,
            "share": pytest.approx(2 / 3),
            "topTags": [{"key": "preferred_category", "value": "baby", "share": 1.0, "lift": 1.5}],
            "centroid": [
                {"feature": "night_order_share", "value": 0.0},
                {"feature": "frequency", "value": 5.5},
            ],
        },
        {
            "id": "2",
            "name": "night_owls",
            "description": "1 buyer (33.3%)",
            "size": 1,
            "share": pytest.approx(1 / 3),
            "topTags": [],
            "centroid": [
                {"feature": "night_order_share", "value": 0.9},
                {"feature": "frequency", "value": 2.0},
            ],
        },
    ]
    assert await graphql(client, PERSONA, id="2") == {
        "data": {"persona": {"id": "2", "name": "night_owls", "size": 1}}
    }
    assert await graphql(client, PERSONA, id="9") == {"data": {"persona": None}}


async def test_a_profile_has_its_persona_and_scores(client: httpx.AsyncClient, runs: Any) -> None:
    body = await graphql(client, PROFILE, id="p-cy")
    assert body["data"]["profile"] == {
        "persona": None,
        "scores": {
            "churnRisk": None,
            "repurchase30d": None,
            "brandLoyalty": None,
            "priceSensitivity": None,
            "promoAffinity": None,
            "socialSharer": None,
            "noveltySeeker": None,
        },
    }
    body = await graphql(client, PROFILE, id="p-ann")
    # the current (second) run made Ann a night owl; her scores came along
    assert body["data"]["profile"]["persona"] == {"id": "2", "name": "night_owls"}
    assert body["data"]["profile"]["scores"]["churnRisk"] == 0.12
    assert body["data"]["profile"]["scores"]["brandLoyalty"] == 0.81


async def test_drift_flags_the_key_that_moved(
    client: httpx.AsyncClient, runs: tuple[int, int]
) -> None:
    first, second = runs
    body = await graphql(client, DRIFT)
    report = body["data"]["drift"]
    assert report["runId"] == str(second)
    assert report["previousRunId"] == str(first)
    assert report["threshold"] == 0.2
    # baby 2 -> 1, outdoor 0 -> 1 of 3 persons (Bob has none both times); the persona key is
    # left out: each run names its clusters afresh.
    moved = (1 / 3 - 2 / 3) * math.log(0.5) + (1 / 3 - 1e-4) * math.log((1 / 3) / 1e-4)
    assert report["flagged"] == ["preferred_category"]
    assert [(k["key"], k["psi"]) for k in report["keys"]] == [
        ("preferred_category", pytest.approx(moved, abs=1e-6)),
        ("brand_loyalty", 0.0),
        ("churn_risk", 0.0),
    ]
    # the first run has nothing to compare with; a run id must be a number
    assert await graphql(client, DRIFT, run=str(first)) == {"data": {"drift": None}}
    bad = await graphql(client, DRIFT, run="latest")
    assert bad["errors"][0]["message"] == "runId 'latest' is not a run id (a number)"


async def test_readme_persona_example_answers_as_documented(
    client: httpx.AsyncClient, runs: tuple[int, int]
) -> None:
    example = _examples()[4].replace("u-1002", "u-ann")
    body = await graphql(client, example)
    assert "errors" not in body, body
    assert [p["name"] for p in body["data"]["personas"]] == ["evening_baby", "night_owls"]
    assert body["data"]["profile"] is None  # the hand-made persons have no user ids
    assert body["data"]["drift"]["flagged"] == ["preferred_category"]
