"""The committed schema.graphql is exactly what the code exports."""

from __future__ import annotations

from pathlib import Path

from api.schema import schema

SCHEMA_FILE = Path(__file__).parents[2] / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    # `portrait schema` prints the SDL followed by a newline.
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", (
        "schema.graphql is stale: run `portrait schema > schema.graphql` and commit it"
    )
