"""From a parsed expression to a `Selection` of the request's run, and the store reads around
saved audiences. Shared by the resolvers and the types' own fields."""

from __future__ import annotations

import difflib

from pyroaring import BitMap
from starlette.concurrency import run_in_threadpool

from api.audiences.scalars import ParsedExpression
from api.context import Info
from api.counts import Counted
from api.tags.bands import Band, bands_over
from api.tags.loaders import TagLoaders
from store.audiences import saved as saved_audiences
from store.audiences.expressions import And, Expression, KeyVocabulary, check, parse, vocabulary
from store.audiences.saved import AudienceSizeRow, AudienceVersionRow, SavedAudienceRow
from store.audiences.selection import BitmapSelection, Selection
from store.errors import InputError, NotFound
from store.runs.reads import RunRow

CLOSEST_KEYS = 3


def require_run(info: Info) -> RunRow:
    run = info.context.run
    if run is None:
        raise NotFound("the store has no committed run yet; run `portrait run --source DIR` first")
    return run


async def run_vocabulary(info: Info, run: RunRow) -> dict[str, KeyVocabulary]:
    definitions = await info.context.loaders(TagLoaders).catalog.load(run.id)
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
    """The expression checked against the run's keys and values, on the run's index."""
    run = require_run(info)
    check(expression.tree, await run_vocabulary(info, run), expression.text)
    return await select_checked(info, run, expression.tree), run


async def select_checked(info: Info, run: RunRow, tree: Expression) -> Selection:
    """An expression already checked (or built from the catalog) on the run's index."""
    return BitmapSelection(await info.context.indexes.get(run.id, run.persons), tree)


async def is_number_key(info: Info, run: RunRow, key: str) -> bool:
    definition = (await info.context.loaders(TagLoaders).catalog.load(run.id)).get(key)
    return definition is not None and definition.value_type == "number"


async def number_bands(info: Info, run: RunRow, key: str) -> list[Band]:
    """The fixed bands the amounts of a number key fall in (none when nobody has one)."""
    index = await info.context.indexes.get(run.id, run.persons)
    scores = index.scores.get(key)
    if scores is None or not len(scores.scores):
        return []
    return bands_over(float(scores.scores[0]), float(scores.scores[-1]))


async def banded(
    info: Info, run: RunRow, key: str, *, within: Expression | None = None
) -> list[tuple[str, Counted]]:
    """The persons (of the audience `within`, or of the run) in each band of a number key
    that anyone is in, lowest band first."""
    found = []
    for band in await number_bands(info, run, key):
        tree = band.expression(key) if within is None else And((within, band.expression(key)))
        inside = await select_checked(info, run, tree)
        n = inside.count()
        if n:
            found.append((band.label, Counted(n, ("audience", tree), inside.bitmap)))
    return found


async def run_persons(info: Info, run: RunRow) -> BitMap:
    """Every person of the run."""
    index = await info.context.indexes.get(run.id, run.persons)
    return BitMap(index.everyone)


async def value_persons(info: Info, run: RunRow, key: str, values: list[str]) -> dict[str, BitMap]:
    """The persons holding each of `values` of `key` (from the index when it is ready)."""
    if not values:
        return {}
    index = await info.context.indexes.get(run.id, run.persons)
    found = index.values.get(key, {})
    return {value: BitMap(found.get(value, ())) for value in values}


async def select_saved(info: Info, saved: SavedAudienceRow) -> tuple[Selection, RunRow]:
    """A saved audience on the current run; its size on the run is recorded once."""
    selection, run = await select(info, ParsedExpression(saved.expression, parse(saved.expression)))
    persons = selection.count()
    engine = info.context.engine

    def record() -> None:
        saved_audiences.record_size(
            engine=engine, name=saved.name, run_id=run.id, version=saved.version, persons=persons
        )

    await run_in_threadpool(record)
    return selection, run


async def saved_versions(info: Info, name: str) -> list[AudienceVersionRow]:
    return saved_audiences.versions(connection=info.context.connection, name=name)


async def saved_sizes(info: Info, name: str) -> list[AudienceSizeRow]:
    return saved_audiences.sizes(connection=info.context.connection, name=name)
