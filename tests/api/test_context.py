"""The request context carries each domain's loaders without knowing them: every domain owns
its loader family (`api/<domain>/loaders.py`), the context imports none of them and makes each
family once per request, over the request's connection and run."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from api.audiences.indexes import AudienceIndexes
from api.auth import KeyCache
from api.basket.segments import SegmentRules
from api.context import Context
from api.ledger import AnswerLedger
from api.runs.starter import RunStarter
from api.tags.kinds import TagKinds
from store.settings import Settings

ROOT = Path(__file__).parents[2]


class Recorded:
    """A loader family that records what each request made it with."""

    made: list[tuple[Connection, int | None]]

    def __init__(self, *, connection: Connection, run_id: int | None) -> None:
        Recorded.made.append((connection, run_id))


def _context(engine: Engine, settings: Settings) -> Context:
    return Context(
        engine=engine,
        indexes=AudienceIndexes(engine=engine),
        segments=SegmentRules(engine=engine),
        settings=settings,
        starter=RunStarter(settings=settings, engine=engine),
        kinds=TagKinds(),
        ledger=AnswerLedger(minimum=settings.min_audience, max_answers=10),
        key_cache=KeyCache(engine=engine, seconds=0),
        live=None,  # type: ignore[arg-type]  # the live path plays no part in loaders
    )


def test_a_request_makes_each_family_once_over_its_connection_and_run(
    store_url: str, engine: Engine, shop_run: int
) -> None:
    settings = Settings(database_url=store_url)
    Recorded.made = []
    first, second = _context(engine, settings), _context(engine, settings)
    try:
        assert first.loaders(Recorded) is first.loaders(Recorded)
        assert second.loaders(Recorded) is not first.loaders(Recorded)
        assert Recorded.made == [(first.connection, shop_run), (second.connection, shop_run)]
    finally:
        first.close()
        second.close()


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_the_context_imports_no_domains_loaders() -> None:
    owners = sorted(path.parent.name for path in (ROOT / "api").glob("*/loaders.py"))
    assert owners == ["basket", "personas", "profiles", "runs", "tags"]
    imported = _imported(ROOT / "api" / "context.py")
    assert sorted(module for module in imported if ".loaders" in module) == []
