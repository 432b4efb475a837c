"""Resolvers of the key queries and mutations (admin only)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api import auth
from api.context import Info
from api.errors import InvalidInputError, NotFoundError
from api.ids import id_number
from api.keys.types import (
    ApiKey,
    CreateApiKeyResult,
    CreateApiKeySuccess,
    RevokeApiKeyResult,
    RevokeApiKeySuccess,
)
from store import keys
from store.errors import NotFound


def api_keys(info: Info) -> list[ApiKey]:
    auth.require(info.context.key, "admin", what="apiKeys")
    connection = info.context.connection
    created = {e.key_id: e.by for e in keys.events(connection=connection) if e.action == "created"}
    return [
        ApiKey.from_row(row, created_by=created.get(row.id))
        for row in keys.listed(connection=connection)
    ]


async def create(info: Info, *, role: str, name: str) -> CreateApiKeyResult:
    info.context.require_live("admin", what="createApiKey")
    if not name.strip() or len(name) > 100 or "\x00" in name:
        message = "name must be 1 to 100 characters (who or what the key is for)"
        return InvalidInputError(message=message, field="name")
    key, row = await run_in_threadpool(
        keys.create, engine=info.context.engine, role=role, name=name, by=info.context.actor
    )
    info.context.key_cache.forget()  # the first key closes an open store at once
    api_key = ApiKey.from_row(row, created_by=info.context.actor)
    return CreateApiKeySuccess(key=key, api_key=api_key)


async def revoke(info: Info, *, key_id: str) -> RevokeApiKeyResult:
    info.context.require_live("admin", what="revokeApiKey")
    number = id_number(key_id)
    if number is None:
        return NotFoundError(message=f"there is no live key with id {key_id!r}", field="id")
    try:
        await run_in_threadpool(
            keys.revoke, engine=info.context.engine, key_id=number, by=info.context.actor
        )
    except NotFound as error:
        return NotFoundError.of(error, field="id")
    info.context.key_cache.forget()  # refused from the next request on, in this worker
    rows = await run_in_threadpool(_listed, info)
    row = next(row for row in rows if row.id == number)
    return RevokeApiKeySuccess(api_key=ApiKey.from_row(row, created_by=None))


def _listed(info: Info) -> list[keys.KeyRow]:
    with info.context.engine.connect() as connection:
        return keys.listed(connection=connection)
