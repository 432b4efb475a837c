"""api.executor reads plain fields directly: the answers, nulls, errors and their paths are
graphql-core's own, on a schema made to hit every way out of the plain path and on the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from functools import partial
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api import app as app_module
from api.app import create_app
from api.executor import _PLANS, PlainFieldsExecutor
from api.schema import build_schema
from store.settings import Settings
from tests.api.client import client_for, graphql

pytestmark = pytest.mark.anyio


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Deny(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    name: str
    nickname: str | None
    must: str
    colour: Colour
    weight: float
    count: int
    seen: datetime

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times

    @strawberry.field(permission_classes=[Deny])
    def secret(self) -> str:
        return "hidden"

    hidden: str = strawberry.field(default="kept", permission_classes=[Deny])


class Flaky(Item):
    """An item whose nickname cannot be read."""

    @property
    def nickname(self) -> str | None:  # type: ignore[override]
        raise RuntimeError("the nickname is on fire")


def _flaky() -> Flaky:
    item = Flaky.__new__(Flaky)
    values = dict(
        name="flaky", must="m", colour=Colour.BLUE, weight=2.5, count=3, hidden="kept",
        seen=datetime(2026, 12, 5, 8, 30),
    )
    vars(item).update(values)
    return item


def _items() -> list[Item]:
    seen = datetime(2026, 12, 5, 8, 30)
    plain = dict(colour=Colour.RED, weight=1.5, count=7, seen=seen)
    return [
        Item(name="a", nickname="ay", must="m", **plain),  # type: ignore[arg-type]
        Item(name="b", nickname=None, must="m", **plain),  # type: ignore[arg-type]
        Item(name="c", nickname="cee", must=None, **plain),  # type: ignore[arg-type]
        Item(name="d", nickname="dee", must="m", **{**plain, "count": 2**40}),  # type: ignore[arg-type]
        Item(name="e", nickname="e", must="m", **{**plain, "colour": "purple"}),  # type: ignore[arg-type]
        _flaky(),
    ]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return list(_items())


QUERY = """
{ items { name nickname must colour weight count seen shout(times: 2) again: name } }
"""
PLAIN_ONLY = "{ items { name nickname must colour weight count seen } }"  # read whole
SECRET = "{ items { name secret } }"
HIDDEN = "{ items { hidden } }"


def _answer(executor: type, query: str) -> tuple[Any, list[tuple[str, list[Any]]]]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    result = schema.execute_sync(query)
    errors = sorted((e.message, list(e.path or [])) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("query", [QUERY, PLAIN_ONLY, SECRET, HIDDEN])
def test_answers_and_errors_are_the_general_executors(query: str) -> None:
    assert _answer(PlainFieldsExecutor, query) == _answer(
        StrawberryGraphQLCoreExecutionContext, query
    )


PLAIN_KEYS = ["name", "nickname", "must", "colour", "weight", "count", "seen"]


@pytest.mark.parametrize(
    ("query", "selected"),
    [(QUERY, [*PLAIN_KEYS, "shout", "again"]), (PLAIN_ONLY, PLAIN_KEYS)],
)
def test_every_way_out_of_the_plain_path_gives_graphql_cores_null_and_error(
    query: str, selected: list[str]
) -> None:
    data, errors = _answer(PlainFieldsExecutor, query)
    assert data is not None
    first = {
        "name": "a", "nickname": "ay", "must": "m", "colour": "RED", "weight": 1.5,
        "count": 7, "seen": "2026-12-05T08:30:00", "shout": "AA", "again": "a",
    }
    second = {**first, "name": "b", "nickname": None, "shout": "BB", "again": "b"}
    assert data["items"][:2] == [{key: item[key] for key in selected} for item in (first, second)]
    # A null in a non-null field, an Int out of range, an unknown enum value: the item is null.
    assert data["items"][2:5] == [None, None, None]
    assert data["items"][5]["nickname"] is None  # the flaky attribute: null, with its error
    assert [(message.split(":")[0], path) for message, path in errors] == [
        ("Cannot return null for non-nullable field Item.must.", ["items", 2, "must"]),
        ("Enum 'Colour' cannot represent value", ["items", 4, "colour"]),
        ("Int cannot represent non 32-bit signed integer value", ["items", 3, "count"]),
        ("the nickname is on fire", ["items", 5, "nickname"]),
    ]


def test_only_plain_leaf_fields_take_the_plain_path() -> None:
    schema = strawberry.Schema(query=Query, execution_context_class=PlainFieldsExecutor)
    for query in (QUERY, SECRET, HIDDEN):
        schema.execute_sync(query)
    plans = _PLANS[schema._schema]
    plain = {name for (parent, name), p in plans.items() if parent == "Item" and p}
    general = {name for (parent, name), p in plans.items() if parent == "Item" and not p}
    assert plain == {"name", "nickname", "must", "colour", "weight", "count", "seen"}
    # a resolver with arguments, and fields with permission classes, go the general way
    assert general == {"shout", "secret", "hidden"}


PROFILES = """
query ($ids: [ID!]!) {
  profiles(ids: $ids) {
    personId lifecycle
    attributes { age ageBand gender city region occupation memberLevel registeredAt }
    tags { key value score kind }
    rfm { recencyDays frequency monetary r f m segment }
    run { id asOf committedAt status persons }
  }
}
"""
AUDIENCE = """
{
  audience(expression: "NOT lifecycle:new") {
    expression evaluator count share run { id }
    breakdown(key: "lifecycle") { value count share }
    members(first: 50) {
      totalCount
      edges { cursor node { personId lifecycle tags { key value score kind } } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


@pytest.fixture
async def general_client(
    store_url: str, shop_run: int, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The API answering with graphql-core's general executor only."""
    general = partial(build_schema, executor=StrawberryGraphQLCoreExecutionContext)
    monkeypatch.setattr(app_module, "build_schema", general)
    async with client_for(create_app(Settings(database_url=store_url))) as client:
        yield client


async def test_the_api_answers_as_with_the_general_executor(
    client: httpx.AsyncClient, general_client: httpx.AsyncClient
) -> None:
    members = (await graphql(client, AUDIENCE))["data"]["audience"]["members"]
    person_ids = [edge["node"]["personId"] for edge in members["edges"]]
    assert len(person_ids) == members["totalCount"]
    for query, variables in ((PROFILES, {"ids": person_ids}), (AUDIENCE, None)):
        fast = await client.post("/graphql", json={"query": query, "variables": variables})
        slow = await general_client.post("/graphql", json={"query": query, "variables": variables})
        assert fast.status_code == slow.status_code == 200
        assert "errors" not in fast.json()
        assert fast.json() == slow.json()
