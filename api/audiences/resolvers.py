"""Resolvers of the audience queries and mutations."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.audiences.types import MAX_PAGE, Audience, Overlap, SavedAudience, answer
from api.context import Info
from store import saved_audiences
from store.errors import InputError, NotFound


async def audience(info: Info, *, expression: ParsedExpression) -> Audience:
    selection, run = await selections.select(info, expression)
    return Audience.of(selection, run=run, expression=expression)


async def overlap(info: Info, *, a: ParsedExpression, b: ParsedExpression) -> Overlap:
    first, _ = await selections.select(info, a)
    second, _ = await selections.select(info, b)
    disclosure = info.context.disclosure
    return await answer(first, lambda: Overlap.of(first, second, disclosure=disclosure))


def saved_audience(info: Info, *, name: str) -> SavedAudience | None:
    if not saved_audiences.NAME.fullmatch(name):  # no audience has it (and no query needed)
        return None
    row = saved_audiences.get(connection=info.context.connection, name=name)
    return None if row is None else SavedAudience.from_row(row)


def all_saved(info: Info, *, first: int) -> list[SavedAudience]:
    if not 0 <= first <= MAX_PAGE:
        raise InputError(f"first must be between 0 and {MAX_PAGE}, got {first}")
    rows = saved_audiences.all_saved(connection=info.context.connection)
    return [SavedAudience.from_row(row) for row in rows[:first]]


async def save(info: Info, *, name: str, expression: ParsedExpression) -> SavedAudience:
    """Check the expression on the current run, save it, and record its size there."""
    saved_audiences.check_name(name)
    await selections.select(info, expression)  # a typo is refused, not saved
    engine, actor = info.context.engine, info.context.actor

    def write() -> saved_audiences.SavedAudienceRow:
        with engine.begin() as connection:
            return saved_audiences.save(
                connection=connection, name=name, expression=expression.text, by=actor
            )

    row = await run_in_threadpool(write)
    await selections.select_saved(info, row)
    return SavedAudience.from_row(row)


async def delete(info: Info, *, name: str) -> bool:
    if not saved_audiences.NAME.fullmatch(name):
        return False
    engine = info.context.engine

    def remove() -> None:
        with engine.begin() as connection:
            saved_audiences.delete_saved(connection=connection, name=name)

    try:
        await run_in_threadpool(remove)
    except NotFound:
        return False
    return True
