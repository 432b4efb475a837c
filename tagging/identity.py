"""Identity resolution: identifiers seen together form one person (a connected component).

Identifiers are numbered before they reach the graph (`numbered`), in the order user ids, device
ids, then any other kind (phone hashes, ...), each by value. So the smallest number in a
component is its canonical identifier: its smallest user id, else its smallest device id; a
component holding neither (a phone hash seen alone) is no person.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from store.profiles.pseudonym import PERSON_ID_HEX_CHARS, person_ids_for

# Node numbers: one per identifier in a run's identity graph.
Nodes = npt.NDArray[np.int64]

USER_ID = "user_id"
DEVICE_ID = "device_id"
PERSON_KINDS = (USER_ID, DEVICE_ID)
KIND_ALIASES = {"user": USER_ID, "uid": USER_ID, "account": USER_ID, "device": DEVICE_ID}
# A person's number in a run (0..n-1): the column every per-person table of a run is keyed by.
PERSON = "person_idx"
NODES_TABLE = "identity_nodes"  # the numbered identifiers, as `resolve` materialises them
Materialise = Callable[[str, ir.Table], ir.Table]  # (name, query) -> the table kept under name


def mentions_and_links(
    kept: dict[str, ir.Table], actors: ir.Table | None
) -> tuple[list[ir.Table], list[ir.Table]]:
    """Every identifier the sources' kept rows (`kept`, by source name) mention (kind,
    identifier), and the pairs they link (kind_a, id_a, kind_b, id_b); `actors` holds the
    (user_id, device_id) the events name."""
    mentions: list[ir.Table] = []
    links: list[ir.Table] = []
    for name in ("users", "orders"):
        if name in kept:
            mentions.append(_mentioned(kept[name], USER_ID))
    if "touches" in kept:
        # Touches name persons as events do (a touch's person may have no order or event).
        touched = kept["touches"].select("user_id", "device_id").distinct()
        mentions += [_mentioned(touched, USER_ID), _mentioned(touched, DEVICE_ID)]
        links.append(_user_device_links(touched))
    if actors is not None:
        mentions += [_mentioned(actors, USER_ID), _mentioned(actors, DEVICE_ID)]
        links.append(_user_device_links(actors))
    if "identities" in kept:
        pairs = kept["identities"]
        pairs = pairs.mutate(
            kind_a=normalised_kind(pairs.kind_a), kind_b=normalised_kind(pairs.kind_b)
        )
        links.append(pairs.select("kind_a", "id_a", "kind_b", "id_b"))
        for side in ("a", "b"):
            mentions.append(
                pairs.select(kind=pairs[f"kind_{side}"], identifier=pairs[f"id_{side}"])
            )
    return mentions, links


def _user_device_links(pairs: ir.Table) -> ir.Table:
    """The (user id, device id) pairs `pairs` names together, as links."""
    both = pairs.filter(pairs.user_id.notnull() & pairs.device_id.notnull())
    return both.select(
        kind_a=ibis.literal(USER_ID),
        id_a=both.user_id,
        kind_b=ibis.literal(DEVICE_ID),
        id_b=both.device_id,
    )


def _mentioned(table: ir.Table, kind: str) -> ir.Table:
    ids = table.filter(table[kind].notnull())
    return ids.select(kind=ibis.literal(kind), identifier=ids[kind])


def normalised_kind(column: ir.StringValue) -> ir.StringValue:
    """Identifier kinds in one spelling each: trimmed, lower-cased, aliases (`uid`) named
    (`user_id`)."""
    lowered = column.strip().lower()
    return lowered.substitute(KIND_ALIASES, else_=lowered)


def kind_rank(kind: ir.StringValue) -> ir.IntegerValue:
    """0 for user ids, 1 for device ids, 2 for other kinds: the order identifiers are numbered."""
    ranks = [(name, rank) for rank, name in enumerate(PERSON_KINDS)]
    return kind.cases(*ranks, else_=len(PERSON_KINDS))


def numbered(mentions: ir.Table) -> ir.Table:
    """The distinct (kind, identifier) of `mentions`, each with its `node`, 0..n-1 in
    `kind_rank` order, then by value (then kind, between other kinds that share a value)."""
    ids = mentions.select("kind", "identifier").distinct()
    order = [kind_rank(ids.kind), ids.identifier, ids.kind]
    return ids.mutate(node=ibis.row_number().over(order_by=order))


def edges(links: ir.Table, nodes: ir.Table) -> ir.Table:
    """The pairs of `links` (kind_a, id_a, kind_b, id_b) as node numbers (a, b)."""
    a = nodes.select(kind_a="kind", id_a="identifier", a="node")
    b = nodes.select(kind_b="kind", id_b="identifier", b="node")
    return links.join(a, ["kind_a", "id_a"]).join(b, ["kind_b", "id_b"]).select("a", "b")


@dataclass(frozen=True)
class Components:
    """The persons among a graph's components."""

    heads: Nodes  # each person's canonical node, ascending
    member_of: Nodes  # each node's index in `heads`; -1 for a component that is no person


class IdentityGraph:
    """A graph of identifiers seen together, e.g. a user id and the device it logged in on."""

    def __init__(self, n_nodes: int, *, person_nodes: int) -> None:
        """Nodes 0..n_nodes-1 numbered as `numbered` does, so those below `person_nodes` are
        the user and device ids.

        Only linked nodes enter networkx: a node in no link is a component of its own.
        """
        if not 0 <= person_nodes <= n_nodes:
            raise ValueError(f"person_nodes {person_nodes} is not within 0..{n_nodes} nodes")
        self.n_nodes = n_nodes
        self.person_nodes = person_nodes
        self._graph: nx.Graph = nx.Graph()

    def link(self, a: Nodes, b: Nodes) -> None:
        """Link node a[i] with b[i]; a pair seen again (either way round) is linked once, since
        networkx spends microseconds on every edge it is given (a fifth of a shop's pairs).

        The pairs go in sorted, so that networkx's dicts are made and later walked in node
        order: a 100k shop's graph in 0.35 s, against 0.58 s in the order the pairs came.
        """
        for nodes in (a, b):
            if len(nodes) and not 0 <= nodes.min() <= nodes.max() < self.n_nodes:
                raise ValueError(f"node {nodes.max()} is not one of the {self.n_nodes} nodes")
        n = self.n_nodes
        # pandas' hash table, then a sort: numpy 2.4's np.unique took 2-3 s on a 1M shop's pairs.
        pairs = np.sort(pd.unique(np.minimum(a, b) * n + np.maximum(a, b)))
        low, high = np.divmod(pairs, n)
        self._graph.add_edges_from(zip(low.tolist(), high.tolist(), strict=True))

    def components(self) -> Components:
        """One person per component whose smallest node is a user or device id (its head)."""
        every = np.arange(self.n_nodes)
        canonical = np.where(every < self.person_nodes, every, -1)
        sizes: list[int] = []

        def members() -> Iterator[int]:
            # A component at a time: a list of them all took 350 MB at 1M users, twice this.
            for component in nx.connected_components(self._graph):
                sizes.append(len(component))
                yield from component

        linked = np.fromiter(members(), dtype=np.int64)
        if len(linked):
            lengths = np.array(sizes, dtype=np.int64)
            smallest = np.minimum.reduceat(linked, np.cumsum(lengths) - lengths)
            smallest[smallest >= self.person_nodes] = -1
            canonical[linked] = np.repeat(smallest, lengths)
        heads = np.flatnonzero(canonical == every)
        index = np.full(self.n_nodes, -1, dtype=np.int64)
        index[heads] = np.arange(len(heads))
        return Components(heads, np.where(canonical >= 0, index[canonical], -1))


@contextmanager
def without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector off, while a graph is built, walked and let go (or a live
    step's persons: `tagging.live.incremental`).

    networkx makes dicts for every node and edge, and a set for every component; each few
    hundred of them set off the collector, which walks the growing graph again and again (a
    100k shop's graph: 0.9 s, against 0.35 s without), and walks it all again, three times,
    once it is back on (2 to 3 s for a 1M shop's graph) unless the graph is gone by then.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pseudonymous_persons(
    components: Components, canonical: list[str], *, id_key: str
) -> tuple[pd.DataFrame, Nodes]:
    """Persons (person_idx, person_id, canonical) and each node's person_idx (-1: none).

    `canonical` names each of `components.heads` as `kind:identifier`. Persons are numbered in
    the order of their pseudonyms, which does not depend on input order.
    """
    person_ids = person_ids_for(canonical, key=id_key)
    # Fixed-width text sorts in a third of the time of Python strings (same order: hex digits).
    order = np.argsort(np.array(person_ids, dtype=f"U{PERSON_ID_HEX_CHARS}"), kind="stable")
    idx_of_head = np.empty(len(order), dtype=np.int64)
    idx_of_head[order] = np.arange(len(order))
    persons = pd.DataFrame(
        {
            PERSON: np.arange(len(order)),
            "person_id": np.array(person_ids, dtype=object)[order],
            "canonical": np.array(canonical, dtype=object)[order],
        }
    )
    member_of = components.member_of
    person_of = np.full(len(member_of), -1, dtype=np.int64)
    person_of[member_of >= 0] = idx_of_head[member_of[member_of >= 0]]
    return persons, person_of


@dataclass(frozen=True)
class Resolution:
    """The persons a run found, and which identifiers are theirs."""

    persons: pd.DataFrame  # person_idx, person_id, canonical
    nodes: ir.Table  # kind, identifier, node: every identifier, materialised
    members: pd.DataFrame  # node, person_idx: every identifier that is a person's

    def identifiers(self) -> ir.Table:
        """kind, identifier, node, person_idx of the persons' identifiers, in node order."""
        members = ibis.memtable(pa.Table.from_pandas(self.members, preserve_index=False))
        return self.nodes.join(members, "node").order_by("node")


def resolve(
    mentions: ir.Table, links: ir.Table | None, *, materialise: Materialise, id_key: str
) -> Resolution:
    """Number the identifiers `mentions` names (kind, identifier), link the pairs of `links`
    (kind_a, id_a, kind_b, id_b), one person per component.

    Only node numbers reach Python, and the text of each person's canonical identifier.
    """
    nodes = materialise(NODES_TABLE, numbered(mentions))
    is_person = nodes.kind.isin(PERSON_KINDS)
    sizes = nodes.aggregate(n=nodes.count(), persons=is_person.sum()).to_pyarrow().to_pylist()[0]
    pairs = None if links is None else edges(links, nodes).to_pyarrow()
    with without_cycle_collection():
        graph = IdentityGraph(sizes["n"], person_nodes=sizes["persons"] or 0)
        if pairs is not None:
            graph.link(pairs["a"].to_numpy(), pairs["b"].to_numpy())
        components = graph.components()
        del graph  # while the collector is off: back on, it would walk all of the graph's dicts
    canonical = _names(nodes, components.heads)
    persons, person_of = _pseudonymous_persons(components, canonical, id_key=id_key)
    members = np.flatnonzero(person_of >= 0)
    return Resolution(persons, nodes, pd.DataFrame({"node": members, PERSON: person_of[members]}))


def _names(nodes: ir.Table, heads: Nodes) -> list[str]:
    """`kind:identifier` of each of `heads` (ascending), in their order."""
    wanted = nodes.join(ibis.memtable(pa.table({"node": heads})), "node").order_by("node")
    names = wanted.select(name=wanted.kind.concat(":", wanted.identifier)).to_pyarrow()
    return names["name"].to_pylist()
