"""GraphiQL runs the audienceChanges subscription over its WebSocket: a reader watches a person
enter a saved audience, with the key typed into its Headers tab."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from store import keys
from store.audiences import saved as saved_audiences
from store.db import make_engine
from store.live import log as live
from store.live.log import NewChange
from tests.api.browser import chromium, screenshot, watched_page
from tests.api.test_serve import serving
from tests.factories import commit_shop

SUBSCRIPTION = """subscription {
  audienceChanges(savedAudienceId: "women", after: "0") {
    ... on MembershipChange { id personId change why }
  }
}"""
RESPONSE = "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()"
PASTE_AND_RUN = """(text) => {
  document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(text);
  document.querySelector('.graphiql-execute-button').click();
}"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    store_url = f"sqlite:///{tmp_path / 'portrait.db'}"
    engine = make_engine(store_url)
    commit_shop(engine)
    with engine.begin() as connection:
        saved_audiences.save(
            connection=connection, name="women", expression="gender:female", by="t"
        )
    yield store_url, engine
    engine.dispose()


def _append(engine: Engine, person: str, minute: int) -> None:
    change = NewChange(
        "women", person, "entered", datetime(2026, 7, 1, 9, minute, tzinfo=UTC), "gender"
    )
    with engine.begin() as connection:
        live.append_changes(connection=connection, changes=[change])


def test_graphiql_shows_a_person_entering_an_audience_as_it_happens(
    store: tuple[str, Engine], tmp_path: Path
) -> None:
    store_url, engine = store
    key, _ = keys.create(engine=engine, role="analyst", name="crm")
    _append(engine, "p-ann", 0)
    env = {**os.environ, "PORTRAIT_DATABASE_URL": store_url}
    with (
        serving(env, tmp_path / "serve.log") as served,
        chromium() as browser,
        watched_page(browser, own=served) as watched,
    ):
        page = watched.page
        page.goto(f"{served}/graphql")
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=30_000)
        page.get_by_text("Headers", exact=True).click()
        # The tab's editor is drawn after the click: set the key once it is there, and check
        # that it took (sent without it, the subscription is refused).
        headers = ".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror"
        page.wait_for_selector(headers, timeout=30_000)
        page.evaluate(
            f"(text) => document.querySelector('{headers}').CodeMirror.setValue(text)",
            f'{{"Authorization": "Bearer {key}"}}',
        )
        page.wait_for_function(
            f"document.querySelector('{headers}').CodeMirror.getValue().includes('{key}')",
            timeout=30_000,
        )
        # Pasted and run at once, sooner than GraphiQL's parse of the editor 100 ms after an
        # edit: the page's fetcher must still choose the WebSocket (it once POSTed it, and the
        # answer was an error instead of the change).
        page.evaluate(PASTE_AND_RUN, SUBSCRIPTION)
        page.wait_for_function(
            f"{RESPONSE}.includes('p-ann') || {RESPONSE}.includes('errors')", timeout=30_000
        )
        assert httpx.Response(200, content=page.evaluate(RESPONSE)).json() == {
            "data": {
                "audienceChanges": {
                    "id": "1",
                    "personId": "p-ann",
                    "change": "ENTERED",
                    "why": "gender",
                }
            }
        }
        _append(engine, "p-dee", 5)  # another process appends: the server pushes it
        page.wait_for_function(f"{RESPONSE}.includes('p-dee')", timeout=30_000)
        answer = page.evaluate(RESPONSE)
        screenshot(page, "graphiql-subscription")

    assert httpx.Response(200, content=answer).json() == {
        "data": {
            "audienceChanges": {
                "id": "2",
                "personId": "p-dee",
                "change": "ENTERED",
                "why": "gender",
            }
        }
    }
    assert watched.outside == []
    audited = keys.audit_entries(engine=engine, limit=10)
    assert sorted(a.person_id for a in audited) == ["p-ann", "p-dee"]
