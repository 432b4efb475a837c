"""The role x field matrix: every path from a root field to a person, and the admin mutations,
asked by each role over HTTP on the four-person shop.

Person paths are found in the schema itself: a new field that reaches a Profile fails
`test_the_matrix_covers_every_field_that_reaches_a_person` until it is guarded and listed here.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLType
from sqlalchemy.engine import Engine

from api.schema import schema
from store.settings import Settings
from tests.api.client import client_as, graphql

pytestmark = pytest.mark.anyio

ROLES = ("operator", "analyst", "admin")
# The fields whose type is a person or a page of persons. ProfileEdge.node is reached only
# through Audience.members (ProfileEdge is in a ProfileConnection, which only members returns).
PERSON_FIELDS = {
    "Query.profile",
    "Query.profiles",
    "Audience.members",
    "ProfileEdge.node",
    "AudienceDiff.enteredMembers",
    "AudienceDiff.leftMembers",
}
SAVE = 'mutation { saveAudience(name: "women", expression: "gender:female") { __typename } }'
# (what the guard calls it, the role it needs, the document, the data of an allowed call)
MATRIX: list[tuple[str, str, str, Any]] = [
    (
        "profile",
        "analyst",
        '{ profile(userId: "u-1001") { personId } }',
        {"profile": {"personId": "p-ann"}},
    ),
    (
        "profiles",
        "analyst",
        '{ profiles(ids: ["p-bob", "p-cy"]) { personId } }',
        {"profiles": [{"personId": "p-bob"}, {"personId": "p-cy"}]},
    ),
    (
        "audience members",
        "analyst",
        '{ audience(expression: "gender:male") { members { edges { node { personId } } } } }',
        {"audience": {"members": {"edges": [{"node": {"personId": "p-bob"}}]}}},
    ),
    (
        "audience members",
        "analyst",
        '{ savedAudience(name: "women") { audience { members { totalCount } } } }',
        {"savedAudience": {"audience": {"members": {"totalCount": 2}}}},
    ),
    (
        "audience members",
        "analyst",
        "{ audiences { audience { members(first: 1) { edges { node { lifecycle } } } } } }",
        {"audiences": [{"audience": {"members": {"edges": [{"node": {"lifecycle": "active"}}]}}}]},
    ),
    (
        "audience members",
        "analyst",
        'mutation { saveAudience(name: "men", expression: "gender:male") { '
        "... on SaveAudienceSuccess { savedAudience { audience { members { totalCount } } } } } }",
        {"saveAudience": {"savedAudience": {"audience": {"members": {"totalCount": 1}}}}},
    ),
    (
        "audience members",
        "analyst",
        '{ audienceDiff(expression: "gender:male", from: "1", to: "1") { '
        "enteredMembers { totalCount } } }",
        {"audienceDiff": {"enteredMembers": {"totalCount": 0}}},
    ),
    (
        "audience members",
        "analyst",
        '{ audienceDiff(expression: "gender:male", from: "1", to: "1") { '
        "leftMembers { totalCount } } }",
        {"audienceDiff": {"leftMembers": {"totalCount": 0}}},
    ),
    (
        "profile",
        "analyst",
        '{ profile(userId: "u-1001", run: "1") { history(key: "lifecycle") { run value } } }',
        {"profile": {"history": [{"run": "1", "value": "active"}]}},
    ),
    (
        "forgetPerson",
        "admin",
        'mutation { forgetPerson(personId: "p-cy") '
        "{ ... on ForgetPersonSuccess { personId runs } } }",
        {"forgetPerson": {"personId": "p-cy", "runs": 1}},
    ),
    # Aggregates: every role.
    (
        "",
        "operator",
        '{ audience(expression: "gender:female", run: "1") { evaluator } '
        '  tagDistribution(key: "gender") { ... on TagDistribution { persons } } '
        '  audienceDiff(expression: "gender:male", from: "1", to: "1") { to { id } } '
        "  personas { name } runs { persons } tags(kind: DEMOGRAPHIC) { key } }",
        {
            "audience": {"evaluator": "BITMAP"},
            "audienceDiff": {"to": {"id": "1"}},
            "tagDistribution": {"persons": 4},
            "personas": [],
            "runs": [{"persons": 4}],
            "tags": [{"key": "age_band"}, {"key": "gender"}],
        },
    ),
]
RANK = {role: rank for rank, role in enumerate(ROLES)}


def _named(kind: GraphQLType) -> GraphQLType:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


def test_the_matrix_covers_every_field_that_reaches_a_person() -> None:
    graphql_schema = schema._schema
    reaching = {
        f"{name}.{field_name}"
        for name, kind in graphql_schema.type_map.items()
        if isinstance(kind, GraphQLObjectType) and not name.startswith("__")
        for field_name, field in kind.fields.items()
        if getattr(_named(field.type), "name", None) in {"Profile", "ProfileConnection"}
    }
    assert reaching == PERSON_FIELDS


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("what", "needs", "document", "data"), MATRIX)
async def test_role_by_field(
    store_url: str,
    engine: Engine,
    shop_run: int,
    role: str,
    what: str,
    needs: str,
    document: str,
    data: Any,
) -> None:
    settings = Settings(database_url=store_url)
    async with client_as(settings, engine, role=role) as client:
        await graphql(client, SAVE)  # a saved audience for the saved paths
        body = await graphql(client, document)
    if RANK[role] >= RANK[needs]:
        assert body == {"data": data}
        return
    assert [error["message"] for error in body["errors"]] == [
        f"{what} needs the {needs} role; this key ({role}-team) is {role}"
    ]
