"""Saved audiences have owners: a key changes its own audiences and those of lower roles, every
change is audited, and a deleted audience's history stays (issue 20, Low)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from store import saved_audiences
from store.settings import Settings
from tests.api.client import client_as, graphql

pytestmark = pytest.mark.anyio

SAVE = """
mutation ($name: String!, $e: TagExpression!) {
  saveAudience(name: $name, expression: $e) { name version savedBy }
}
"""
DELETE = "mutation ($name: String!) { deleteAudience(name: $name) }"
SAVED = 'query { savedAudience(name: "women") { expression version } }'


@pytest.fixture
def settings(store_url: str, shop_run: int) -> Settings:
    return Settings(database_url=store_url)


async def test_an_operator_may_not_change_an_analysts_audience(
    settings: Settings, engine: Engine
) -> None:
    async with client_as(settings, engine, role="analyst", name="crm") as analyst:
        body = await graphql(analyst, SAVE, name="women", e="gender:female")
        assert body["data"]["saveAudience"] == {"name": "women", "version": 1, "savedBy": "crm"}
    async with client_as(settings, engine, role="operator", name="ops") as operator:
        refused = (
            "audience 'women' was made by crm (analyst); this key (ops) is operator and may "
            "change only its own audiences and those of lower roles"
        )
        body = await graphql(operator, SAVE, name="women", e="gender:male")
        assert [e["message"] for e in body["errors"]] == [f"saveAudience: {refused}"]
        body = await graphql(operator, DELETE, name="women")
        assert [e["message"] for e in body["errors"]] == [f"deleteAudience: {refused}"]
        assert await graphql(operator, SAVED) == {
            "data": {"savedAudience": {"expression": "gender:female", "version": 1}}
        }
        # Its own audiences it may change.
        await graphql(operator, SAVE, name="men", e="gender:male")
        body = await graphql(operator, SAVE, name="men", e="gender:male OR lifecycle:new")
        assert body["data"]["saveAudience"]["version"] == 2


async def test_every_change_is_audited_and_a_deletion_keeps_the_history(
    settings: Settings, engine: Engine
) -> None:
    async with client_as(settings, engine, role="operator", name="ops") as operator:
        await graphql(operator, SAVE, name="women", e="gender:female")
    async with client_as(settings, engine, role="analyst", name="crm") as analyst:
        # An analyst ranks above the operator who made it.
        await graphql(analyst, SAVE, name="women", e="gender:female AND lifecycle:active")
        assert await graphql(analyst, DELETE, name="women") == {"data": {"deleteAudience": True}}
        assert await graphql(analyst, SAVED) == {"data": {"savedAudience": None}}
    with engine.connect() as connection:
        changes = saved_audiences.changes(connection=connection, name="women")
    assert [(c.action, c.version, c.expression, c.by, c.role) for c in changes] == [
        ("created", 1, "gender:female", "ops", "operator"),
        ("edited", 2, "gender:female AND lifecycle:active", "crm", "analyst"),
        ("deleted", 1, "gender:female", "crm", "analyst"),
        ("deleted", 2, "gender:female AND lifecycle:active", "crm", "analyst"),
    ]
