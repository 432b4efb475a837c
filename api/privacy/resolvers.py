"""Resolvers of forgetting a person."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api.context import Info
from api.errors import NotFoundError
from api.privacy.types import ForgetPersonResult, ForgetPersonSuccess
from store import suppressions


async def forget_person(info: Info, *, person_id: str) -> ForgetPersonResult:
    info.context.require_live("admin", what="forgetPerson")
    context = info.context
    unknown = NotFoundError(
        message=f"no run or live event holds person {person_id!r}", field="personId"
    )
    if "\x00" in person_id:  # no person has it (and PostgreSQL text cannot hold it)
        return unknown
    forgotten = await run_in_threadpool(
        suppressions.forget,
        engine=context.engine,
        person_id=person_id,
        id_key=context.settings.id_key,
        by=context.actor,
    )
    return unknown if forgotten is None else ForgetPersonSuccess.of(forgotten)
