"""Resolvers of forgetting a person."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api.context import Info
from api.privacy.types import ForgottenPerson
from store import suppressions
from store.errors import NotFound


async def forget_person(info: Info, *, person_id: str) -> ForgottenPerson:
    info.context.require_live("admin", what="forgetPerson")
    context = info.context
    if "\x00" in person_id:  # no person has it (and PostgreSQL text cannot hold it)
        raise NotFound(f"no run holds person {person_id!r}")
    forgotten = await run_in_threadpool(
        suppressions.forget,
        engine=context.engine,
        person_id=person_id,
        id_key=context.settings.id_key,
        by=context.actor,
    )
    if forgotten is None:
        raise NotFound(f"no run holds person {person_id!r}")
    return ForgottenPerson.of(forgotten)
