"""Resolvers of the profile queries."""

from __future__ import annotations

import strawberry

from api import auth
from api.context import Info
from api.profiles import selection
from api.profiles.live import live_rows, overlaid
from api.profiles.loaders import ProfileLoaders
from api.profiles.types import Profile
from store.errors import InputError
from store.live.profiles import MERGED_INTO
from store.profiles import reads as profile_reads
from store.profiles.reads import PersonRow
from store.runs.reads import RunRow
from tagging.live.rules import MAINTAINED

MAX_PROFILES = 100
NUL = "\x00"


async def profile(
    info: Info,
    *,
    person_id: strawberry.ID | None,
    user_id: str | None,
    run: strawberry.ID | None = None,
) -> Profile | None:
    auth.require(info.context.key, "analyst", what="profile")
    if (person_id is None) == (user_id is None):
        raise InputError("profile takes exactly one of personId or userId")
    info.context.at_run(run)
    loaders = info.context.loaders(ProfileLoaders)
    if NUL in str(person_id or user_id):  # no id holds one, and PostgreSQL text cannot
        return None
    if person_id is not None:
        row = await loaders.person_by_id.load(str(person_id))
    else:
        row = await loaders.person_by_user_id.load(str(user_id))
    return (await profiles_of(info, [row]))[0]


async def profiles(info: Info, *, person_ids: list[strawberry.ID]) -> list[Profile | None]:
    auth.require(info.context.key, "analyst", what="profiles")
    if len(person_ids) > MAX_PROFILES:
        raise InputError(
            f"profiles takes at most {MAX_PROFILES} ids, got {len(person_ids)}; split the batch"
        )
    wanted = [str(i) for i in person_ids]
    found = await info.context.loaders(ProfileLoaders).person_by_id.load_many(
        [i for i in wanted if NUL not in i]
    )
    by_id = {row.person_id: row for row in found if row is not None}
    rows = [by_id.get(i) for i in wanted]
    return await profiles_of(info, rows)


async def profiles_of(
    info: Info,
    rows: list[PersonRow | None],
    *,
    below: tuple[str, ...] = (),
    run: RunRow | None = None,
    listed: bool = False,
) -> list[Profile | None]:
    """Profiles of the persons found, with their tags read in one batch, and their live tags
    in place of the run's where the live path changed them (a person created live has only
    those); each one read is noted for the audit log.

    For several persons, only the tags of the keys that the selected Profile fields (at
    `below` under the current field) show are read. One person's tags cost less to read whole
    than the selection costs to look through (~60 us). `listed`: the rows are a page of a run's
    audience members (a person merged away since the run stays on it, as the run had them).
    """
    run = info.context.run if run is None else run
    found_ids = [row.person_id for row in rows if row is not None]
    found = [row.person_idx for row in rows if row is not None]
    if run is None or not found:
        return [None] * len(rows)
    info.context.read_persons(found_ids, query=_query_label(info), run_id=run.id)
    # The tags came with each profile's row: only those the selected fields show are decoded.
    tag_keys = selection.profile_tag_keys(info.selected_fields, *below) if len(found) > 1 else None
    connection = info.context.connection
    tags = {
        row.person_idx: profile_reads.tags_of(
            connection=connection, run_id=run.id, person=row, keys=tag_keys
        )
        for row in rows
        if row is not None
    }
    kinds = info.context.kinds.of(run, connection=connection)
    # Persons created live were found by their live rows: those rows are their profiles.
    created = info.context.loaders(ProfileLoaders, run_id=run.id).created
    live = {n: created[n] for n in found if n in created}
    known = info.context.live.live_persons(run.id)
    changed = [n for n in found if n not in live and (known is None or n in known)]
    if changed:
        live |= live_rows(connection=connection, run_id=run.id, person_idxs=changed)
    profiles: list[Profile | None] = []
    for row in rows:
        if row is None:
            profiles.append(None)
            continue
        person, person_tags, state = row, tags[row.person_idx], live.get(row.person_idx)
        if state is not None and MERGED_INTO in state.facts:
            # Merged into another person since the run: no longer one to look up; a page of
            # the run's members shows them as the run had them.
            if not listed:
                profiles.append(None)
                continue
            state = None
        if state is not None:
            person, person_tags = overlaid(row, person_tags, state, frozenset(MAINTAINED))
        profiles.append(
            Profile.from_row(person, run=run, tags=person_tags, kinds=kinds, live=state)
        )
    return profiles


def _query_label(info: Info) -> str:
    """The root field that reached the persons, and the operation's name if it has one."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    name = info.operation.name.value if info.operation.name else "anonymous"
    return f"{path.key} ({name})"
