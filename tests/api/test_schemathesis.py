"""schemathesis against the running server: generated queries of every root field, valid
(positive) and invalid (negative), never get a server error or a masked "Unexpected error"."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.api.test_serve import server  # noqa: F401  (the running `portrait serve` fixture)

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"
EXPRESSIONS = [
    "lifecycle:active",
    "gender IN (female, male) AND NOT rfm_segment:at_risk",
    "churn_risk >= 0.5",
    "preferred_category",
    "nosuchkey:x",
    "lifecycle:",
    "(" * 40,
    "",
]
schemathesis.graphql.scalar(
    "TagExpression", st.sampled_from(EXPRESSIONS).map(schemathesis.graphql.nodes.String)
)


def _check(url: str, mode: GenerationMode) -> None:
    # Creating or revoking keys would close this open store to the requests after them
    # (tests/api/test_auth.py drives those mutations).
    schema = schemathesis.graphql.from_path(SCHEMA_FILE).exclude(name_regex="ApiKey")

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=schema.as_strategy(generation_mode=mode))
    def never_fails(case: schemathesis.Case) -> None:
        response = httpx.post(f"{url}/graphql", json={"query": case.body}, timeout=30)
        # GraphQL answers a bad query with 200 and errors; only a server fault is 5xx.
        assert response.status_code == 200, (case.body, response.text)
        body = response.json()
        assert "data" in body or "errors" in body, case.body
        messages = [e.get("message") for e in body.get("errors") or []]
        # The traceback of a failure is in the server's log: tmp_path / "serve.log".
        assert "Unexpected error." not in messages, (case.body, messages)

    never_fails()


def test_positive_queries_never_get_a_server_error(
    server: tuple[str, subprocess.Popen[str]],  # noqa: F811
) -> None:
    _check(server[0], GenerationMode.POSITIVE)


def test_negative_queries_never_get_a_server_error(
    server: tuple[str, subprocess.Popen[str]],  # noqa: F811
) -> None:
    _check(server[0], GenerationMode.NEGATIVE)
