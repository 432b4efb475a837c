"""Ids too large for the store's integer columns (or not ASCII digits) are refused with the value
named, on both stores, instead of failing in the database."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.api.client import graphql

pytestmark = pytest.mark.anyio

HUGE = "99999999999999999999"
RUN = "query ($id: ID!) { run(id: $id) { id } }"
DRIFT = "query ($id: ID!) { drift(runId: $id) { runId } }"
REVOKE = "mutation ($id: ID!) { revokeApiKey(id: $id) { ... on NotFoundError { message } } }"
MEMBERS = """
query ($after: String!) {
  audience(expression: "gender:female") { members(after: $after) { totalCount } }
}
"""


@pytest.mark.parametrize("value", [HUGE, "2147483648", "²"])
async def test_a_run_id_out_of_range_is_refused_with_its_value(
    client: httpx.AsyncClient, value: str
) -> None:
    body = await graphql(client, RUN, id=value)
    assert [e["message"] for e in body["errors"]] == [
        f"run id {value!r} is not a run number such as '12'"
    ]
    body = await graphql(client, DRIFT, id=value)
    assert [e["message"] for e in body["errors"]] == [f"runId {value!r} is not a run id (a number)"]
    assert await graphql(client, REVOKE, id=value) == {
        "data": {"revokeApiKey": {"message": f"there is no live key with id {value!r}"}}
    }


async def test_the_largest_id_is_asked_and_found_missing(client: httpx.AsyncClient) -> None:
    assert await graphql(client, RUN, id="2147483647") == {"data": {"run": None}}


async def test_a_cursor_past_the_stores_numbers_is_refused(
    client: httpx.AsyncClient, shop_run: int
) -> None:
    cursor = base64.urlsafe_b64encode(f"member:{shop_run}:{HUGE}".encode()).decode()
    body = await graphql(client, MEMBERS, after=cursor)
    assert [e["message"] for e in body["errors"]] == [
        f"after: {cursor!r} is not a cursor of an audience page"
    ]
