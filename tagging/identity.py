"""Identity resolution: identifiers seen together form one person (a connected component).

Identifiers are numbered before they reach the graph, in the order user ids, device ids, then
any other kind (phone hashes, ...), each by value. So the smallest number in a component is its
canonical identifier: its smallest user id, else its smallest device id; a component holding
neither (a phone hash seen alone) is no person.
"""

from __future__ import annotations

from typing import NewType

import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd

from store.pseudonym import identifier_digest, person_id_for

# The number of one identifier in a run's identity graph.
NodeId = NewType("NodeId", int)

USER_ID = "user_id"
DEVICE_ID = "device_id"
PERSON_KINDS = (USER_ID, DEVICE_ID)
KIND_ALIASES = {"user": USER_ID, "uid": USER_ID, "account": USER_ID, "device": DEVICE_ID}


def normalise_kind(kind: str) -> str:
    kind = kind.strip().lower()
    return KIND_ALIASES.get(kind, kind)


def kind_rank(kind: str) -> int:
    """0 for user ids, 1 for device ids, 2 for other kinds: the order identifiers are numbered."""
    return PERSON_KINDS.index(kind) if kind in PERSON_KINDS else len(PERSON_KINDS)


class IdentityGraph:
    """A graph of identifiers seen together, e.g. a user id and the device it logged in on."""

    def __init__(self, identifiers: pd.DataFrame) -> None:
        """`identifiers`: distinct (kind, identifier), numbered 0..n-1 in `kind_rank` order."""
        ranks = identifiers["kind"].map(kind_rank)
        order = np.lexsort((identifiers["identifier"].to_numpy(), ranks.to_numpy()))
        self.identifiers = identifiers.iloc[order].reset_index(drop=True)
        self._ranks = ranks.to_numpy()[order]
        self._graph: nx.Graph = nx.Graph()
        self._graph.add_nodes_from(range(len(self.identifiers)))

    def numbers(self, kind: str, values: pd.Series) -> npt.NDArray[np.int64]:
        """The node numbers of `values` of one kind (every value must be an identifier)."""
        of_kind = self.identifiers[self.identifiers["kind"] == kind]
        positions = pd.Index(of_kind["identifier"]).get_indexer(values.to_numpy())
        if (positions < 0).any():
            raise KeyError(f"{kind}: {values[positions < 0].iloc[0]!r} is not an identifier")
        return of_kind.index.to_numpy()[positions]

    def link(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
        """Link node a[i] with b[i]; a pair seen again (either way round) is linked once, since
        networkx spends microseconds on every edge it is given (a fifth of a shop's pairs)."""
        n = len(self.identifiers)
        low, high = np.divmod(np.unique(np.minimum(a, b) * n + np.maximum(a, b)), n)
        self._graph.add_edges_from(zip(low.tolist(), high.tolist(), strict=True))

    def __len__(self) -> int:
        return int(self._graph.number_of_nodes())

    def persons(self, *, id_key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(persons: person_idx, person_id, canonical; identifiers: kind, identifier, person_idx).

        Persons are numbered in the order of their pseudonyms, which does not depend on input order.
        """
        component = np.full(len(self.identifiers), -1, dtype=np.int64)
        canonical_nodes: list[int] = []
        for members in nx.connected_components(self._graph):
            smallest = min(members)
            if self._ranks[smallest] < len(PERSON_KINDS):
                component[list(members)] = len(canonical_nodes)
                canonical_nodes.append(smallest)
        chosen = self.identifiers.iloc[canonical_nodes]
        canonical = (chosen["kind"] + ":" + chosen["identifier"]).tolist()
        person_ids = np.array([person_id_for(c, key=id_key) for c in canonical], dtype=object)
        order = np.argsort(person_ids, kind="stable")
        idx_of_component = np.empty(len(order), dtype=np.int64)
        idx_of_component[order] = np.arange(len(order))
        persons = pd.DataFrame(
            {
                "person_idx": np.arange(len(order)),
                "person_id": person_ids[order],
                "canonical": np.array(canonical, dtype=object)[order],
            }
        )
        in_person = component >= 0
        identifiers = self.identifiers[in_person].reset_index(drop=True)
        identifiers["person_idx"] = idx_of_component[component[in_person]]
        return persons, identifiers


def without_suppressed(
    persons: pd.DataFrame, identifiers: pd.DataFrame, *, listed: frozenset[str], id_key: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Leave out every person one of whose identifiers is on the suppression list (a forgotten
    person, `store.suppressions`), renumbering the rest in the same order.

    Returns (persons, identifiers, the left-out persons' identifiers).
    """
    if not listed or identifiers.empty:
        return persons, identifiers, identifiers.iloc[:0]
    hashed = [
        identifier_digest(kind, identifier, key=id_key)
        for kind, identifier in zip(identifiers["kind"], identifiers["identifier"], strict=True)
    ]
    hit = np.isin(np.array(hashed, dtype=object), np.array(sorted(listed), dtype=object))
    gone = np.unique(identifiers["person_idx"].to_numpy()[hit])
    leaving = identifiers["person_idx"].isin(gone)
    staying = ~persons["person_idx"].isin(gone)
    renumber = np.full(len(persons), -1, dtype=np.int64)
    renumber[persons.loc[staying, "person_idx"].to_numpy()] = np.arange(int(staying.sum()))
    kept_persons = persons[staying].reset_index(drop=True)
    kept_persons["person_idx"] = renumber[kept_persons["person_idx"].to_numpy()]
    kept = identifiers[~leaving].reset_index(drop=True)
    kept["person_idx"] = renumber[kept["person_idx"].to_numpy()]
    return kept_persons, kept, identifiers[leaving].reset_index(drop=True)
