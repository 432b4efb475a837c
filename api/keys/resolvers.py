"""Resolvers of the key queries and mutations (admin only)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api import auth
from api.context import Info
from api.keys.types import ApiKey, NewApiKey
from store import keys
from store.errors import InputError, NotFound


def api_keys(info: Info) -> list[ApiKey]:
    auth.require(info.context.key, "admin", what="apiKeys")
    return [ApiKey.from_row(row) for row in keys.listed(connection=info.context.connection)]


async def create(info: Info, *, role: str, name: str) -> NewApiKey:
    auth.require(info.context.key, "admin", what="createApiKey")
    if not name.strip() or len(name) > 100 or "\x00" in name:
        raise InputError("name must be 1 to 100 characters (who or what the key is for)")
    key, row = await run_in_threadpool(
        keys.create, engine=info.context.engine, role=role, name=name
    )
    return NewApiKey(key=key, api_key=ApiKey.from_row(row))


async def revoke(info: Info, *, key_id: str) -> ApiKey:
    auth.require(info.context.key, "admin", what="revokeApiKey")
    if not key_id.isdigit():
        raise NotFound(f"there is no live key with id {key_id!r}")
    await run_in_threadpool(keys.revoke, engine=info.context.engine, key_id=int(key_id))
    rows = await run_in_threadpool(_listed, info)
    return next(ApiKey.from_row(row) for row in rows if row.id == int(key_id))


def _listed(info: Info) -> list[keys.KeyRow]:
    with info.context.engine.connect() as connection:
        return keys.listed(connection=connection)
