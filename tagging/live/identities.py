"""The persons live events and orders name, by the batch run's identity rules: an identifier
the registry knows is its person's (a user id before a device id); an identifier seen with a
known one joins that person; a person never seen is created with the next unused number and
the pseudonym of their canonical identifier (`kind:identifier`, a user id before a device id),
as a run would name them.

Not done live: two known persons linked by one event stay two until the next run merges them
(`store.profiles.numbering`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from store.live import profiles as live_profiles
from store.profiles import numbering
from store.profiles.pseudonym import person_id_for
from tagging.identity import DEVICE_ID, USER_ID

Identifier = tuple[str, str]  # (kind, identifier)


def resolve(
    *,
    connection: Connection,
    run_id: int,
    id_key: str,
    actors: Iterable[tuple[str | None, str | None]],
) -> tuple[dict[Identifier, int], dict[int, str]]:
    """The person number of every identifier of the actors (user_id, device_id), creating
    persons and recording new links in the registry; and the person ids of the persons created.
    """
    pairs = list(dict.fromkeys(actors))
    if pairs:
        numbering.lock_registries(connection)  # a run's numbering waits, or is waited for
    numbers: dict[Identifier, int] = {}
    for kind, named in (
        (USER_ID, {u for u, _ in pairs if u}),
        (DEVICE_ID, {d for _, d in pairs if d}),
    ):
        found = live_profiles.numbers_of(connection=connection, kind=kind, identifiers=named)
        numbers |= {(kind, ident): n for ident, n in found.items()}
    links: list[tuple[str, str, int]] = []
    fresh: dict[Identifier, list[Identifier]] = {}  # a new person's canonical -> its others
    for user, device in pairs:
        ids: list[Identifier] = [(USER_ID, user)] if user else []
        ids += [(DEVICE_ID, device)] if device else []
        owner = next((numbers[i] for i in ids if i in numbers), None)
        if owner is not None:
            for i in ids:
                if i not in numbers:
                    numbers[i] = owner
                    links.append((*i, owner))
            continue
        canonical = next((c for c, others in fresh.items() if set(ids) & {c, *others}), ids[0])
        others = fresh.setdefault(canonical, [])
        others += [i for i in ids if i != canonical and i not in others]
    new = [(kind, ident, person_id_for(f"{kind}:{ident}", key=id_key)) for kind, ident in fresh]
    given = live_profiles.register(
        connection=connection, run_id=run_id, new_persons=new, links=links
    )
    extra = [(*other, given[canonical]) for canonical, more in fresh.items() for other in more]
    if extra:
        live_profiles.register(connection=connection, run_id=run_id, new_persons=[], links=extra)
    for canonical, more in fresh.items():
        for i in (canonical, *more):
            numbers[i] = given[canonical]
    return numbers, {given[(kind, ident)]: pid for kind, ident, pid in new}
