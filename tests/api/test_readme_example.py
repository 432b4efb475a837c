"""The README's GraphQL example runs as printed, against the hand-made shop."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.api.client import graphql

pytestmark = pytest.mark.anyio

README = (Path(__file__).parents[2] / "README.md").read_text()


def _example() -> str:
    match = re.search(r"```graphql\n(.*?)```", README, flags=re.DOTALL)
    assert match is not None, "README has no ```graphql example"
    # the example names a user of the demo shop; ask for one of the hand-made shop's instead
    return re.sub(r"#[^\n]*", "", match.group(1)).replace("U1000760", "u-1002")


async def test_readme_example_answers_without_errors(client: httpx.AsyncClient) -> None:
    body = await graphql(client, _example())
    assert "errors" not in body
    profile = body["data"]["profile"]
    assert profile["personId"] == "p-bob"
    assert profile["rfm"]["segment"] == "at_risk"
    assert profile["tag"] == ["outdoor", "digital"]
    values = body["data"]["tagDistribution"]["values"]
    assert sum(v["count"] for v in values) == 4
