"""From a parsed expression to a `Selection` of the request's run, and the store reads around
saved audiences. Shared by the resolvers and the types' own fields."""

from __future__ import annotations

import difflib

from starlette.concurrency import run_in_threadpool

from api.audiences.scalars import ParsedExpression
from api.context import Info
from store import saved_audiences
from store.api_queries import RunRow
from store.audiences import BitmapSelection, Selection, SqlSelection
from store.errors import InputError, NotFound
from store.expressions import KeyVocabulary, check, parse, vocabulary
from store.saved_audiences import AudienceSizeRow, AudienceVersionRow, SavedAudienceRow

CLOSEST_KEYS = 3


def require_run(info: Info) -> RunRow:
    run = info.context.run
    if run is None:
        raise NotFound("the store has no committed run yet; run `portrait run --source DIR` first")
    return run


async def run_vocabulary(info: Info, run: RunRow) -> dict[str, KeyVocabulary]:
    definitions = await info.context.loaders.catalog.load(run.id)
    return vocabulary(definitions.values())


async def require_key(info: Info, key: str) -> None:
    """InputError naming the closest keys when the run's catalog has no such key."""
    run = require_run(info)
    known = await run_vocabulary(info, run)
    if key not in known:
        closest = difflib.get_close_matches(key, sorted(known), n=CLOSEST_KEYS, cutoff=0.5)
        hint = f"; did you mean {', '.join(closest)}?" if closest else ""
        raise InputError(f"tag key {key!r} is not in the catalog of run {run.id}{hint}")


async def select(info: Info, expression: ParsedExpression) -> tuple[Selection, RunRow]:
    """The expression checked against the run's keys and values, on the fastest evaluator."""
    run = require_run(info)
    check(expression.tree, await run_vocabulary(info, run), expression.text)
    index = await info.context.indexes.get(run.id, run.persons)
    if index is not None:
        return BitmapSelection(index, expression.tree), run
    return SqlSelection(info.context.engine, run.id, expression.tree), run


async def select_saved(info: Info, saved: SavedAudienceRow) -> tuple[Selection, RunRow]:
    """A saved audience on the current run; its size on the run is recorded once."""
    selection, run = await select(info, ParsedExpression(saved.expression, parse(saved.expression)))
    count = selection.count() if selection.evaluator == "bitmap" else None
    engine = info.context.engine

    def record() -> None:
        persons = selection.count() if count is None else count
        saved_audiences.record_size(
            engine=engine, name=saved.name, run_id=run.id, version=saved.version, persons=persons
        )

    await run_in_threadpool(record)
    return selection, run


async def saved_versions(info: Info, name: str) -> list[AudienceVersionRow]:
    return saved_audiences.versions(connection=info.context.connection, name=name)


async def saved_sizes(info: Info, name: str) -> list[AudienceSizeRow]:
    return saved_audiences.sizes(connection=info.context.connection, name=name)
