"""GraphiQL works without outside network: its page, scripts and styles come from the app."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import httpx
import pytest

from store.db import make_engine
from tests.api.browser import chromium, screenshot, watched_page
from tests.api.test_serve import serving
from tests.factories import ANN, commit_shop

PROFILE = '{ profile(userId: "u-1001") { personId lifecycle } }'
STATIC = resources.files("api.playground") / "static"
LICENSES = (STATIC / "LICENSES.md").read_text(encoding="utf-8")
# | file | npm package | version | licence | sha256 |
LISTED = dict(re.findall(r"^\| ([\w.-]+\.(?:js|css)) \|.*\| ([0-9a-f]{64}) \|$", LICENSES, re.M))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """`portrait serve` over the standard shop, an open development store (no keys)."""
    store_url = f"sqlite:///{tmp_path / 'portrait.db'}"
    engine = make_engine(store_url)
    commit_shop(engine)
    engine.dispose()
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url}
    with serving(env, tmp_path / "serve.log") as url:
        yield url


def test_graphiql_runs_a_query_typed_into_its_editor_with_no_outside_request(
    served: str,
) -> None:
    with chromium() as browser, watched_page(browser, own=served) as watched:
        page = watched.page
        page.goto(f"{served}/graphql")  # returns once the page and its scripts have loaded
        assert watched.outside == []  # a CDN link fails here, not by a timeout below
        editor = page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        assert editor is not None
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.press("Delete")
        # Typed as a person would: GraphiQL closes brackets and quotes, and skips over them.
        page.keyboard.type(PROFILE)
        typed = page.evaluate(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()"
        )
        assert typed == PROFILE
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "document.querySelector('.graphiql-response .CodeMirror')"
            ".CodeMirror.getValue().includes('personId')",
            timeout=30_000,
        )
        answer = page.evaluate(
            "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
        )
        screenshot(page, "graphiql")

    assert httpx.Response(200, content=answer).json() == {
        "data": {"profile": {"personId": ANN.person_id, "lifecycle": "active"}}
    }
    assert watched.errors == []
    assert watched.outside == []


def test_the_playground_files_are_the_ones_whose_licences_are_recorded(served: str) -> None:
    stored = sorted(p.name.removesuffix(".gz") for p in STATIC.iterdir() if p.name.endswith(".gz"))
    assert sorted(LISTED) == stored
    with httpx.Client(base_url=served, timeout=30) as client:
        page = client.get("/graphql", headers={"accept": "text/html"}).text
        loaded = re.findall(r'(?:src|href)="([^"]+)"', page)
        assert sorted(loaded) == sorted(["data:,", *(f"/playground/static/{n}" for n in stored)])
        for name, digest in LISTED.items():
            response = client.get(f"/playground/static/{name}")  # httpx accepts gzip
            assert response.headers["content-encoding"] == "gzip"
            assert hashlib.sha256(response.content).hexdigest() == digest
        plain = client.get(
            "/playground/static/react.production.min.js", headers={"accept-encoding": "identity"}
        )
        assert "content-encoding" not in plain.headers
        assert hashlib.sha256(plain.content).hexdigest() == LISTED["react.production.min.js"]
        assert client.get("/playground/static/LICENSES.md").status_code == 404
        assert client.get("/playground/static/..%2Fgraphiql.html").status_code == 404
