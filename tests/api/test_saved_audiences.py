"""Saved audiences have owners: a key changes its own audiences and those of lower roles, every
change is audited, and a deleted audience's history stays (issue 20, Low)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from store.audiences import saved as saved_audiences
from store.settings import Settings
from tests.api.client import client_as, graphql

pytestmark = pytest.mark.anyio

SAVE = """
mutation ($name: String!, $e: TagExpression!) {
  saveAudience(name: $name, expression: $e) {
    __typename
    ... on SaveAudienceSuccess { savedAudience { name version savedBy } }
    ... on MutationError { message field }
  }
}
"""
DELETE = """
mutation ($name: String!) {
  deleteAudience(name: $name) {
    __typename
    ... on DeleteAudienceSuccess { name }
    ... on MutationError { message field }
  }
}
"""
SAVED = 'query { savedAudience(name: "women") { expression version } }'


@pytest.fixture
def settings(store_url: str, shop_run: int) -> Settings:
    return Settings(database_url=store_url)


async def test_an_operator_may_not_change_an_analysts_audience(
    settings: Settings, engine: Engine
) -> None:
    async with client_as(settings, engine, role="analyst", name="crm") as analyst:
        body = await graphql(analyst, SAVE, name="women", e="gender:female")
        assert body["data"]["saveAudience"] == {
            "__typename": "SaveAudienceSuccess",
            "savedAudience": {"name": "women", "version": 1, "savedBy": "crm"},
        }
    async with client_as(settings, engine, role="operator", name="ops") as operator:
        refused = {
            "__typename": "NotAudienceOwnerError",
            "message": "audience 'women' was made by crm (analyst); this key (ops) is operator "
            "and may change only its own audiences and those of lower roles",
            "field": "name",
        }
        body = await graphql(operator, SAVE, name="women", e="gender:male")
        assert body == {"data": {"saveAudience": refused}}
        body = await graphql(operator, DELETE, name="women")
        assert body == {"data": {"deleteAudience": refused}}
        assert await graphql(operator, SAVED) == {
            "data": {"savedAudience": {"expression": "gender:female", "version": 1}}
        }
        # Its own audiences it may change.
        await graphql(operator, SAVE, name="men", e="gender:male")
        body = await graphql(operator, SAVE, name="men", e="gender:male OR lifecycle:new")
        assert body["data"]["saveAudience"]["savedAudience"]["version"] == 2


async def test_every_change_is_audited_and_a_deletion_keeps_the_history(
    settings: Settings, engine: Engine
) -> None:
    async with client_as(settings, engine, role="operator", name="ops") as operator:
        await graphql(operator, SAVE, name="women", e="gender:female")
    async with client_as(settings, engine, role="analyst", name="crm") as analyst:
        # An analyst ranks above the operator who made it.
        await graphql(analyst, SAVE, name="women", e="gender:female AND lifecycle:active")
        assert await graphql(analyst, DELETE, name="women") == {
            "data": {"deleteAudience": {"__typename": "DeleteAudienceSuccess", "name": "women"}}
        }
        assert await graphql(analyst, SAVED) == {"data": {"savedAudience": None}}
    with engine.connect() as connection:
        changes = saved_audiences.changes(connection=connection, name="women")
    assert [(c.action, c.version, c.expression, c.by, c.role) for c in changes] == [
        ("created", 1, "gender:female", "ops", "operator"),
        ("edited", 2, "gender:female AND lifecycle:active", "crm", "analyst"),
        ("deleted", 1, "gender:female", "crm", "analyst"),
        ("deleted", 2, "gender:female AND lifecycle:active", "crm", "analyst"),
    ]
