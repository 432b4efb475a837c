"""Resolvers of the audience queries and mutations."""

from __future__ import annotations

import strawberry
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from api import auth
from api.audiences import selections
from api.audiences.saved import (
    DeleteAudienceResult,
    DeleteAudienceSuccess,
    NotAudienceOwnerError,
    SaveAudienceResult,
    SaveAudienceSuccess,
    SavedAudience,
)
from api.audiences.scalars import ParsedExpression
from api.audiences.types import MAX_PAGE, Audience, Overlap, answer
from api.context import Info
from api.errors import InvalidInputError, NotFoundError
from store.audiences import saved as saved_audiences
from store.audiences.saved import SavedAudienceRow
from store.errors import ExpressionError, InputError, NotFound


async def audience(
    info: Info, *, expression: ParsedExpression, run: strawberry.ID | None = None
) -> Audience:
    info.context.at_run(run)
    selection, run_row = await selections.select(info, expression)
    return Audience.of(selection, run=run_row, expression=expression)


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


async def save(info: Info, *, name: str, expression: ParsedExpression) -> SaveAudienceResult:
    """Check the expression on the current run, save it, and record its size there."""
    try:
        saved_audiences.check_name(name)
    except InputError as error:
        return InvalidInputError.of(error, field="name")
    try:
        await selections.select(info, expression)  # a typo is refused, not saved
    except ExpressionError as error:
        return InvalidInputError.of(error, field="expression")
    except NotFound as error:  # no committed run yet
        return NotFoundError.of(error, field=None)
    engine, actor = info.context.engine, _actor(info)

    def write() -> SavedAudienceRow | NotAudienceOwnerError:
        with engine.begin() as connection:
            refused = _refusal(info, connection, name)
            if refused is not None:
                return refused
            return saved_audiences.save(
                connection=connection, name=name, expression=expression.text, by=actor
            )

    written = await run_in_threadpool(write)
    if isinstance(written, NotAudienceOwnerError):
        return written
    await selections.select_saved(info, written)
    return SaveAudienceSuccess(saved_audience=SavedAudience.from_row(written))


async def delete(info: Info, *, name: str) -> DeleteAudienceResult:
    if not saved_audiences.NAME.fullmatch(name):  # no audience has it (nor may PostgreSQL)
        return NotFoundError(message=f"there is no saved audience named {name!r}", field="name")
    engine, actor = info.context.engine, _actor(info)

    def remove() -> NotAudienceOwnerError | None:
        with engine.begin() as connection:
            refused = _refusal(info, connection, name)
            if refused is None:
                saved_audiences.delete_saved(connection=connection, name=name, by=actor)
            return refused

    try:
        refused = await run_in_threadpool(remove)
    except NotFound as error:
        return NotFoundError.of(error, field="name")
    return DeleteAudienceSuccess(name=name) if refused is None else refused


def _actor(info: Info) -> saved_audiences.Actor:
    key = info.context.key
    if key is None:
        return saved_audiences.Actor(info.context.actor)
    return saved_audiences.Actor(key.name, key.id, key.role)


def _refusal(info: Info, connection: Connection, name: str) -> NotAudienceOwnerError | None:
    """Why the caller may not change the audience, unless it made it or its role ranks above
    its maker's (an audience whose maker was not recorded counts as an analyst's); admins
    change any, and anyone may make a new one."""
    key = info.context.key
    if key is None or key.role == "admin":
        return None
    if saved_audiences.get(connection=connection, name=name) is None:
        return None
    maker = saved_audiences.owner(connection=connection, name=name)
    if maker is not None and maker.key_id == key.id:
        return None
    maker_role = "analyst" if maker is None or maker.role is None else maker.role
    if auth.RANK[key.role] > auth.RANK[maker_role]:
        return None
    made_by = "an unrecorded key" if maker is None else f"{maker.name} ({maker_role})"
    return NotAudienceOwnerError(
        message=f"audience {name!r} was made by {made_by}; this key ({key.name}) is "
        f"{key.role} and may change only its own audiences and those of lower roles",
        field="name",
    )
