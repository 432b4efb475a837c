"""startRun: an admin starts a tagging run on a folder under PORTRAIT_SOURCE_ROOT from the API;
the run is its own process, followed with run(id)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from store.settings import Settings
from store.snapshot.write import begin_run, fail_run
from tests.api.client import client_as, graphql
from tests.api.test_privacy import ORDERS
from tests.factories import AS_OF

pytestmark = pytest.mark.anyio

START = """
mutation ($s: String!) {
  startRun(source: $s) {
    __typename
    ... on StartRunSuccess { run { id status source } }
    ... on MutationError { message field }
  }
}
"""
RUN = "query ($id: ID!) { run(id: $id) { status persons error } }"
FINISH_SECONDS = 180  # a bound so that a broken run cannot hang the suite, not a timing


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    (folder / "june").mkdir(parents=True)
    (folder / "june" / "orders.csv").write_text(ORDERS)
    (folder / "broken").mkdir()
    (folder / "broken" / "orders.csv").write_text("order_id,ts,amount\no1,2026-06-01,3\n")
    (folder / "empty").mkdir()
    (tmp_path / "outside").mkdir()
    return folder


async def _client(
    store_url: str, engine: Engine, role: str, root: Path | None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=store_url,
        id_key="test-id-key-0123456789",
        source_root=None if root is None else str(root),
    )
    async with client_as(settings, engine, role=role) as client:
        yield client


@pytest.fixture
async def admin(store_url: str, engine: Engine, root: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(store_url, engine, "admin", root):
        yield client


async def finished(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + FINISH_SECONDS
    while time.monotonic() < deadline:
        run: dict[str, Any] = (await graphql(client, RUN, id=run_id))["data"]["run"]
        if run["status"] != "RUNNING":
            return run
        await asyncio.sleep(0.2)
    pytest.fail(f"run {run_id} still running after {FINISH_SECONDS} s")


async def test_an_admin_starts_a_run_and_one_at_a_time(
    admin: httpx.AsyncClient, root: Path
) -> None:
    body = await graphql(admin, START, s="june")
    started = body["data"]["startRun"]["run"]
    assert (started["status"], started["source"]) == ("RUNNING", str(root / "june"))
    # While it works, a second start names it (process id and time vary).
    again = (await graphql(admin, START, s="june"))["data"]["startRun"]
    assert (again["__typename"], again["field"]) == ("RunInProgressError", None)
    assert again["message"].startswith(f"run {started['id']} is still running (process ")
    # Ann, Bob and Cy (Zed's only order is bad).
    assert await finished(admin, started["id"]) == {
        "status": "COMMITTED",
        "persons": 3,
        "error": None,
    }


START_AS_OF = """
mutation ($s: String!, $day: Date!) {
  startRun(source: $s, asOf: $day) { ... on StartRunSuccess { run { id } } }
}
"""
AS_OF_RUN = "query ($id: ID!) { run(id: $id) { status asOf persons } }"


async def test_the_as_of_day_reaches_the_run_whole(admin: httpx.AsyncClient) -> None:
    body = await graphql(admin, START_AS_OF, s="june", day="2026-06-05")
    run_id = body["data"]["startRun"]["run"]["id"]
    await finished(admin, run_id)
    # Ann's first order and Bob's (10:00 on the day itself); Cy's comes on the 7th.
    assert await graphql(admin, AS_OF_RUN, id=run_id) == {
        "data": {
            "run": {
                "status": "COMMITTED",
                "asOf": "2026-06-05T23:59:59.999999+00:00",
                "persons": 2,
            }
        }
    }


async def test_a_run_that_fails_records_why(admin: httpx.AsyncClient) -> None:
    started = (await graphql(admin, START, s="broken"))["data"]["startRun"]["run"]
    run = await finished(admin, started["id"])
    assert run["status"] == "FAILED"
    assert "missing required column 'user_id'" in run["error"]


async def test_a_run_that_cannot_begin_says_why(admin: httpx.AsyncClient, root: Path) -> None:
    # The run's process reads the shop's settings before it records the run.
    (root / "june" / "shop.toml").write_text('[shop]\ncolour = "blue"\n')
    assert await graphql(admin, START, s="june") == {
        "data": {
            "startRun": {
                "__typename": "InvalidInputError",
                "message": f"the run did not start: {root / 'june' / 'shop.toml'}: [shop] has "
                "unknown settings ['colour'] (timezone, encoding, non_merchandise)",
                "field": "source",
            }
        }
    }
    assert (await graphql(admin, "{ runs { id } }"))["data"] == {"runs": []}


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("../outside", "source '../outside' is not a folder inside the source root"),
        (".", "source '.' is not a folder inside the source root"),
        ("/etc", "source '/etc' is not a folder inside the source root"),
        ("nowhere", "source 'nowhere': there is no such folder in the source root"),
        ("june\x00", "source 'june\\x00' is not a folder inside the source root"),
    ],
)
async def test_only_folders_inside_the_source_root(
    admin: httpx.AsyncClient, source: str, message: str
) -> None:
    assert await graphql(admin, START, s=source) == {
        "data": {
            "startRun": {"__typename": "InvalidInputError", "message": message, "field": "source"}
        }
    }


async def test_a_folder_without_orders_is_refused_at_once(
    admin: httpx.AsyncClient, root: Path
) -> None:
    refused = (await graphql(admin, START, s="empty"))["data"]["startRun"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInputError", "source")
    assert refused["message"].startswith(f"{root / 'empty'}: no orders file")


async def test_without_a_source_root_the_server_starts_no_runs(
    store_url: str, engine: Engine
) -> None:
    async for admin in _client(store_url, engine, "admin", None):
        assert (await graphql(admin, START, s="june"))["data"]["startRun"] == {
            "__typename": "InvalidInputError",
            "message": "this server starts no runs: set PORTRAIT_SOURCE_ROOT to the folder "
            "whose subfolders hold the shops' sources",
            "field": "source",
        }


@pytest.mark.parametrize("role", ["operator", "analyst"])
async def test_only_an_admin_starts_runs(
    store_url: str, engine: Engine, root: Path, role: str
) -> None:
    async for client in _client(store_url, engine, role, root):
        body = await graphql(client, START, s="june")
        assert body["errors"][0]["message"] == (
            f"startRun needs the admin role; this key ({role}-team) is {role}"
        )
        assert (await graphql(client, "{ runs { id } }"))["data"] == {"runs": []}


async def test_a_file_linked_from_outside_the_source_root_is_refused(
    admin: httpx.AsyncClient, root: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "secret.txt"
    secret.write_text("secret_token=do-not-show\n")
    (root / "leaky").mkdir()
    (root / "leaky" / "orders.csv").symlink_to(secret)
    assert (await graphql(admin, START, s="leaky"))["data"]["startRun"] == {
        "__typename": "InvalidInputError",
        "message": "source 'leaky': orders.csv leads outside the source root (a symbolic "
        "link); copy the file into the folder instead",
        "field": "source",
    }
    assert (await graphql(admin, "{ runs { id } }"))["data"] == {"runs": []}


RUNS = "{ runs { source error params } }"


@pytest.mark.parametrize(
    ("role", "source", "error", "params"),
    [
        ("operator", "june", None, {"source": "june", "catalog": "tags.toml", "seed": 7}),
        (
            "analyst",
            "/srv/shops/june",
            "orders.csv: found: secret_token=x",
            {"source": "/srv/shops/june", "catalog": "/srv/tags.toml", "seed": 7},
        ),
    ],
)
async def test_an_operator_sees_no_server_paths_or_run_errors(
    store_url: str,
    engine: Engine,
    role: str,
    source: str,
    error: str | None,
    params: dict[str, Any],
) -> None:
    run_id = begin_run(
        engine=engine,
        source="/srv/shops/june",
        as_of=AS_OF,
        params={"source": "/srv/shops/june", "catalog": "/srv/tags.toml", "seed": 7},
    )
    fail_run(engine=engine, run_id=run_id, error="orders.csv: found: secret_token=x")
    async for client in _client(store_url, engine, role, None):
        body = await graphql(client, RUNS)
        assert body["data"]["runs"] == [{"source": source, "error": error, "params": params}]
