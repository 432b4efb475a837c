"""runs, run, currentRun and health over a committed shop run and a failed run after it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from store.models import Run
from tests.api.client import graphql
from tests.factories import failed_run

pytestmark = pytest.mark.anyio

RUN_FIELDS = """
    id status asOf startedAt finishedAt committedAt source persons tagRows error isCurrent
    quality { source read kept afterAsOf dropped { reason rows } droppedRows }
    timings { stage seconds }
    params
"""
RUNS = f"query ($last: Int) {{ runs(last: $last) {{ {RUN_FIELDS} }} }}"
RUNS_DEFAULT = "query { runs { id } }"
RUN = f"query ($id: ID!) {{ run(id: $id) {{ {RUN_FIELDS} }} }}"
HEALTH = "query { health { status runId } currentRun { id status } }"
FAILURE = "orders.csv has no column 'amount'"


@pytest.fixture
def failed_run_id(engine: Engine, shop_run: int) -> int:
    return failed_run(engine, error=FAILURE)


def stored(engine: Engine, run_id: int) -> dict[str, Any]:
    """What only the store knows exactly: when the run started and ended, and how long it took."""
    with Session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
    return {
        "startedAt": run.started_at.isoformat(),
        "finishedAt": None if run.finished_at is None else run.finished_at.isoformat(),
        "timings": [{"stage": stage, "seconds": seconds} for stage, seconds in run.timings.items()],
    }


def shop_run_fields(engine: Engine, run_id: int) -> dict[str, Any]:
    at = stored(engine, run_id)
    # The snapshot write adds its own stage after the ones the run reported.
    assert [t["stage"] for t in at["timings"]] == ["ingest", "clean", "tags", "write"]
    assert at["timings"][:3] == [
        {"stage": "ingest", "seconds": 0.5},
        {"stage": "clean", "seconds": 0.25},
        {"stage": "tags", "seconds": 1.0},
    ]
    return {
        "id": str(run_id),
        "status": "COMMITTED",
        "asOf": "2026-06-30T00:00:00+00:00",
        **at,
        "committedAt": at["finishedAt"],
        "source": "tests/shop",
        "persons": 4,
        "tagRows": 21,
        "error": None,
        "isCurrent": True,
        "quality": [
            {
                "source": "users",
                "read": 5,
                "kept": 4,
                "afterAsOf": 0,
                "dropped": [{"reason": "duplicate_user_id", "rows": 1}],
                "droppedRows": 1,
            },
            {
                "source": "events",
                "read": 100,
                "kept": 88,
                "afterAsOf": 2,
                "dropped": [
                    {"reason": "bot", "rows": 7},
                    {"reason": "duplicate_event_id", "rows": 3},
                ],
                "droppedRows": 10,
            },
        ],
        "params": {"seed": 7, "catalog": None},
    }


def failed_run_fields(engine: Engine, run_id: int) -> dict[str, Any]:
    return {
        "id": str(run_id),
        "status": "FAILED",
        "asOf": "2026-06-30T00:00:00+00:00",
        **stored(engine, run_id),
        "committedAt": None,
        "source": "tests/broken",
        "persons": 0,
        "tagRows": 0,
        "error": FAILURE,
        "isCurrent": False,
        "quality": [],
        "params": {},
    }


async def test_runs_lists_runs_of_any_status_newest_first(
    client: httpx.AsyncClient, engine: Engine, shop_run: int, failed_run_id: int
) -> None:
    body = await graphql(client, RUNS, last=10)

    assert body == {
        "data": {
            "runs": [
                failed_run_fields(engine, failed_run_id),
                shop_run_fields(engine, shop_run),
            ]
        }
    }


async def test_runs_last_limits_the_list(
    client: httpx.AsyncClient, failed_run_id: int, shop_run: int
) -> None:
    assert await graphql(client, RUNS_DEFAULT) == {
        "data": {"runs": [{"id": str(failed_run_id)}, {"id": str(shop_run)}]}
    }
    body = await graphql(client, RUNS, last=1)

    assert [run["id"] for run in body["data"]["runs"]] == [str(failed_run_id)]


@pytest.mark.parametrize("last", [0, 101])
async def test_runs_last_must_be_between_1_and_100(client: httpx.AsyncClient, last: int) -> None:
    body = await graphql(client, RUNS, last=last)

    assert [e["message"] for e in body["errors"]] == [f"last must be between 1 and 100, got {last}"]


async def test_run_by_id_has_its_quality_report_and_timings(
    client: httpx.AsyncClient, engine: Engine, shop_run: int, failed_run_id: int
) -> None:
    assert await graphql(client, RUN, id=str(shop_run)) == {
        "data": {"run": shop_run_fields(engine, shop_run)}
    }
    assert await graphql(client, RUN, id=failed_run_id) == {
        "data": {"run": failed_run_fields(engine, failed_run_id)}
    }


async def test_run_of_an_unknown_id_is_null(client: httpx.AsyncClient) -> None:
    assert await graphql(client, RUN, id="99") == {"data": {"run": None}}


async def test_run_id_must_be_a_number(client: httpx.AsyncClient) -> None:
    body = await graphql(client, RUN, id="latest")

    assert [e["message"] for e in body["errors"]] == [
        "run id 'latest' is not a run number such as '12'"
    ]


async def test_health_and_current_run_name_the_committed_run_not_a_later_failed_one(
    client: httpx.AsyncClient, shop_run: int, failed_run_id: int
) -> None:
    body = await graphql(client, HEALTH)

    assert body == {
        "data": {
            "health": {"status": "ok", "runId": str(shop_run)},
            "currentRun": {"id": str(shop_run), "status": "COMMITTED"},
        }
    }


async def test_an_empty_store_has_no_current_run(empty_client: httpx.AsyncClient) -> None:
    assert await graphql(empty_client, HEALTH) == {
        "data": {"health": {"status": "ok", "runId": None}, "currentRun": None}
    }
    assert await graphql(empty_client, RUNS_DEFAULT) == {"data": {"runs": []}}
