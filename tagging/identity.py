"""Identity resolution: identifiers seen together form one person (a connected component)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NewType

import networkx as nx
import pandas as pd

from store.pseudonym import person_id_for

# "kind:value", for example "user_id:U0001234" or "device_id:d-88"
Identifier = NewType("Identifier", str)

USER_ID = "user_id"
DEVICE_ID = "device_id"
# Identifier kinds that make a component a person; a phone hash seen alone is not one.
PERSON_KINDS = (USER_ID, DEVICE_ID)
KIND_ALIASES = {"user": USER_ID, "uid": USER_ID, "account": USER_ID, "device": DEVICE_ID}


def identifier(kind: str, value: str) -> Identifier:
    return Identifier(f"{normalise_kind(kind)}:{value}")


def normalise_kind(kind: str) -> str:
    kind = kind.strip().lower()
    return KIND_ALIASES.get(kind, kind)


class IdentityGraph:
    """A graph of identifiers seen together, e.g. a user id and the device it logged in on."""

    def __init__(self) -> None:
        self._graph: nx.Graph = nx.Graph()

    def add(self, identifiers: Iterable[Identifier]) -> None:
        self._graph.add_nodes_from(identifiers)

    def link(self, pairs: Iterable[tuple[Identifier, Identifier]]) -> None:
        self._graph.add_edges_from(pairs)

    def __len__(self) -> int:
        return int(self._graph.number_of_nodes())

    def persons(self, *, id_key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(persons: person_idx, person_id, canonical; identifiers: kind, identifier, person_idx).

        A person's canonical identifier is its smallest user id, else its smallest device id, so
        its pseudonym stays the same from run to run as long as that identifier is seen.
        Persons are numbered in the order of their pseudonyms, which does not depend on input order.
        """
        canonical: list[str] = []
        members: list[list[str]] = []
        for component in nx.connected_components(self._graph):
            chosen = _canonical(component)
            if chosen is not None:
                canonical.append(chosen)
                members.append(list(component))
        persons = pd.DataFrame(
            {"canonical": canonical, "person_id": [person_id_for(c, key=id_key) for c in canonical]}
        )
        order = persons["person_id"].argsort(kind="stable").to_numpy()
        persons = persons.iloc[order].reset_index(drop=True)
        persons.insert(0, "person_idx", range(len(persons)))
        idx_of_component = pd.Series(range(len(order)), index=order).sort_index()
        return persons, _identifier_frame(members, idx_of_component)


def _canonical(component: set[str]) -> str | None:
    for kind in PERSON_KINDS:
        ids = [node for node in component if node.startswith(f"{kind}:")]
        if ids:
            return min(ids)
    return None


def _identifier_frame(members: list[list[str]], idx_of_component: pd.Series) -> pd.DataFrame:
    sizes = [len(m) for m in members]
    flat = pd.Series([node for m in members for node in m], dtype="string")
    parts = flat.str.split(":", n=1, expand=True)
    component = pd.Series(range(len(members))).repeat(sizes).to_numpy()
    return pd.DataFrame(
        {
            "kind": parts[0].to_numpy(),
            "identifier": parts[1].to_numpy(),
            "person_idx": idx_of_component.to_numpy()[component],
        }
    )
