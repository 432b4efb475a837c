"""The persons live events and orders name, by the batch run's identity rules: identifiers
seen together (an event's user id and device id) are one person, and so is everything the
registry already gives one person (`tagging.identity`).

A step's identifiers and the persons the registry has for them form a graph (networkx); each
connected component is one person:
- holding no known person: a person never seen, created with the next unused number and the
  pseudonym of its canonical identifier (`kind:identifier`: its smallest user id, else its
  smallest device id), as a run would name them;
- holding one: that person, the component's unknown identifiers recorded as theirs;
- holding several (an event links a user id and a device id of two different persons): they
  are **merged**. The person holding the canonical identifier among theirs (the smallest user
  id, else device id) keeps their number and person id; the others are retired into it
  (`person_numbers.retired_into`) and their identifiers become the kept person's, as a run's
  numbering records a merge (`store.profiles.numbering`), so that the next run keeps the same
  number for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import networkx as nx
from sqlalchemy import Connection

from store.live import profiles as live_profiles
from store.profiles import numbering
from store.profiles.pseudonym import person_id_for
from tagging.identity import DEVICE_ID, USER_ID

Identifier = tuple[str, str]  # (kind, identifier)
# A known person in the step's graph: (PERSON, number), beside the identifiers (kind, text).
PERSON = "#person"


class Resolved(NamedTuple):
    numbers: dict[Identifier, int]  # the person number of every identifier of the step
    created: dict[int, str]  # the person id of each person created, by number
    merged: dict[int, int]  # each person retired by a merge: the number kept in their place


def resolve(
    *,
    connection: Connection,
    run_id: int,
    id_key: str,
    actors: Iterable[tuple[str | None, str | None]],
) -> Resolved:
    """The persons of the actors (user_id, device_id): persons created and merged, and new
    identifiers recorded, in the registries (the caller's transaction)."""
    pairs = list(dict.fromkeys(actors))
    if not pairs:
        return Resolved({}, {}, {})
    numbering.lock_registries(connection)  # a run's numbering waits, or is waited for
    graph: nx.Graph = nx.Graph()
    for user, device in pairs:
        ids: list[Identifier] = [(USER_ID, user)] if user else []
        ids += [(DEVICE_ID, device)] if device else []
        graph.add_nodes_from(ids)
        if len(ids) == 2:
            graph.add_edge(*ids)
    known: dict[Identifier, int] = {}
    for kind in (USER_ID, DEVICE_ID):
        named = [ident for k, ident in graph.nodes if k == kind]
        found = live_profiles.numbers_of(connection=connection, kind=kind, identifiers=named)
        known |= {(kind, ident): n for ident, n in found.items()}
    graph.add_edges_from((i, (PERSON, n)) for i, n in known.items())
    numbers: dict[Identifier, int] = dict(known)
    links: list[tuple[str, str, int]] = []
    fresh: list[tuple[Identifier, list[Identifier]]] = []  # new persons: canonical, others
    merged: dict[int, int] = {}
    for component in nx.connected_components(graph):
        ids = [node for node in component if node[0] != PERSON]
        persons = sorted(int(node[1]) for node in component if node[0] == PERSON)
        if not persons:
            canonical = _canonical(ids)
            fresh.append((canonical, [i for i in ids if i != canonical]))
            continue
        kept = persons[0] if len(persons) == 1 else _kept(connection, persons)
        merged |= {n: kept for n in persons if n != kept}
        for i in ids:
            if i not in known:
                links.append((*i, kept))
            numbers[i] = kept
    if merged:
        live_profiles.retire(connection=connection, into=merged)
    new = [
        (kind, ident, person_id_for(f"{kind}:{ident}", key=id_key)) for (kind, ident), _ in fresh
    ]
    given = live_profiles.register(
        connection=connection, run_id=run_id, new_persons=new, links=links
    )
    extra = [(*other, given[canonical]) for canonical, others in fresh for other in others]
    if extra:
        live_profiles.register(connection=connection, run_id=run_id, new_persons=[], links=extra)
    for canonical, others in fresh:
        for i in (canonical, *others):
            numbers[i] = given[canonical]
    created = {given[(kind, ident)]: pid for kind, ident, pid in new}
    return Resolved(numbers, created, merged)


def _canonical(ids: Iterable[Identifier]) -> Identifier:
    """A person's canonical identifier: their smallest user id, else smallest device id."""
    return min(ids, key=lambda i: (i[0] != USER_ID, i[1]))


def _kept(connection: Connection, persons: list[int]) -> int:
    """Of persons to merge, the one holding the canonical identifier among all of theirs."""
    theirs = live_profiles.identifiers_of(connection=connection, numbers=persons)
    if not theirs:
        return persons[0]
    holder = {(kind, ident): n for kind, ident, n in theirs}
    return holder[_canonical(holder)]
