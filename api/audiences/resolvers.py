"""Resolvers of the audience queries and mutations."""

from __future__ import annotations

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api import auth
from api.audiences import selections
from api.audiences.saved import SavedAudience
from api.audiences.scalars import ParsedExpression
from api.audiences.types import MAX_PAGE, Audience, Overlap, answer
from api.context import Info
from store import saved_audiences
from store.errors import Forbidden, InputError, NotFound


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
    engine, actor = info.context.engine, _actor(info)

    def write() -> saved_audiences.SavedAudienceRow:
        with engine.begin() as connection:
            if saved_audiences.get(connection=connection, name=name) is not None:
                _may_change(info, connection, name, what="saveAudience")
            return saved_audiences.save(
                connection=connection, name=name, expression=expression.text, by=actor
            )

    row = await run_in_threadpool(write)
    await selections.select_saved(info, row)
    return SavedAudience.from_row(row)


async def delete(info: Info, *, name: str) -> bool:
    if not saved_audiences.NAME.fullmatch(name):
        return False
    engine, actor = info.context.engine, _actor(info)

    def remove() -> None:
        with engine.begin() as connection:
            if saved_audiences.get(connection=connection, name=name) is not None:
                _may_change(info, connection, name, what="deleteAudience")
            saved_audiences.delete_saved(connection=connection, name=name, by=actor)

    try:
        await run_in_threadpool(remove)
    except NotFound:
        return False
    return True


def _actor(info: Info) -> saved_audiences.Actor:
    key = info.context.key
    if key is None:
        return saved_audiences.Actor(info.context.actor)
    return saved_audiences.Actor(key.name, key.id, key.role)


def _may_change(info: Info, connection: Connection, name: str, *, what: str) -> None:
    """Forbidden unless the caller made the audience or its role ranks above its maker's (an
    audience whose maker was not recorded counts as an analyst's); admins change any."""
    key = info.context.key
    if key is None or key.role == "admin":
        return
    maker = saved_audiences.owner(connection=connection, name=name)
    if maker is not None and maker.key_id == key.id:
        return
    maker_role = "analyst" if maker is None or maker.role is None else maker.role
    if auth.RANK[key.role] > auth.RANK[maker_role]:
        return
    made_by = "an unrecorded key" if maker is None else f"{maker.name} ({maker_role})"
    raise Forbidden(
        f"{what}: audience {name!r} was made by {made_by}; this key ({key.name}) is "
        f"{key.role} and may change only its own audiences and those of lower roles"
    )
