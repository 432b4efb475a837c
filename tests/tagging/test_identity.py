"""Identity: identifiers seen together are one person, with a stable pseudonym."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pytest
from ibis.backends.duckdb import Backend as DuckDBBackend

from store.profiles.pseudonym import person_id_for
from tagging.identity import (
    IdentityGraph,
    Resolution,
    edges,
    normalised_kind,
    numbered,
    resolve,
)
from tagging.ingest import connect

KEY = "k" * 16
IDENTIFIERS = [
    ("user_id", "U9"),
    ("phone_hash", "ph1"),
    ("device_id", "d2"),
    ("user_id", "U1"),
    ("device_id", "d1"),
    ("user_id", "U2"),
    ("device_id", "lonely-device"),
    ("phone_hash", "orphan"),
    ("email_hash", "e1"),
]
Link = tuple[tuple[str, str], tuple[str, str]]
LINKS: list[Link] = [
    (("user_id", "U1"), ("device_id", "d1")),
    (("device_id", "d2"), ("user_id", "U1")),
    (("user_id", "U9"), ("phone_hash", "ph1")),
    (("user_id", "U1"), ("phone_hash", "ph1")),
    (("phone_hash", "orphan"), ("email_hash", "e1")),
]


def _mentions(con: DuckDBBackend, identifiers: list[tuple[str, str]]) -> ir.Table:
    kinds, values = zip(*identifiers, strict=True)
    return con.create_table("mentions", pa.table({"kind": kinds, "identifier": values}))


def _links(con: DuckDBBackend, links: list[Link]) -> ir.Table:
    columns = {
        "kind_a": [a[0] for a, _ in links],
        "id_a": [a[1] for a, _ in links],
        "kind_b": [b[0] for _, b in links],
        "id_b": [b[1] for _, b in links],
    }
    return con.create_table("links", pa.table(columns))


def _resolve(identifiers: list[tuple[str, str]], links: list[Link]) -> Resolution:
    con = connect()
    return resolve(
        _mentions(con, identifiers),
        _links(con, links) if links else None,
        materialise=lambda name, table: con.create_table(name, table, overwrite=True),
        id_key=KEY,
    )


def test_identifiers_are_numbered_users_then_devices_then_other_kinds_by_value() -> None:
    con = connect()
    mentions = _mentions(con, [*IDENTIFIERS, ("user_id", "U1"), ("phone_hash", "e1")])
    nodes = numbered(mentions).order_by("node").to_pyarrow().to_pylist()
    assert [(n["node"], n["kind"], n["identifier"]) for n in nodes] == [
        (0, "user_id", "U1"),
        (1, "user_id", "U2"),
        (2, "user_id", "U9"),
        (3, "device_id", "d1"),
        (4, "device_id", "d2"),
        (5, "device_id", "lonely-device"),
        (6, "email_hash", "e1"),
        (7, "phone_hash", "e1"),  # one value, two kinds: by kind
        (8, "phone_hash", "orphan"),
        (9, "phone_hash", "ph1"),
    ]  # repeats are one node


def test_linked_pairs_become_their_node_numbers() -> None:
    con = connect()
    nodes = con.create_table("nodes", numbered(_mentions(con, IDENTIFIERS)))
    pairs = edges(_links(con, LINKS), nodes).to_pyarrow().to_pylist()
    assert sorted((p["a"], p["b"]) for p in pairs) == [(0, 3), (0, 8), (2, 8), (4, 0), (7, 6)]


def test_linked_identifiers_become_one_person_with_canonical_pseudonym() -> None:
    found = _resolve(IDENTIFIERS, LINKS)
    identifiers = found.identifiers().to_pyarrow().to_pandas()
    members = identifiers.groupby("person_idx")["identifier"].apply(sorted).to_dict()
    persons = found.persons
    canonical = dict(zip(persons.person_idx, persons.canonical, strict=True))
    groups = {canonical[idx]: ids for idx, ids in members.items()}
    assert groups == {
        "user_id:U1": ["U1", "U9", "d1", "d2", "ph1"],
        "user_id:U2": ["U2"],
        "device_id:lonely-device": ["lonely-device"],
    }  # the phone/email pair alone is no person
    assert set(persons.person_id) == {person_id_for(c, key=KEY) for c in groups}
    assert list(identifiers.node) == [0, 1, 2, 3, 4, 5, 8]


def test_person_numbers_follow_pseudonyms_not_input_order() -> None:
    persons = _resolve(IDENTIFIERS, LINKS).persons
    assert list(persons.person_idx) == [0, 1, 2]
    assert list(persons.person_id) == sorted(persons.person_id)
    shuffled = _resolve(IDENTIFIERS[::-1], [])
    # unlinked here, so more persons, but the ones both share get the same pseudonyms
    alone = set(shuffled.persons.person_id)
    assert {person_id_for("user_id:U2", key=KEY), person_id_for("user_id:U1", key=KEY)} <= alone
    assert len(alone) == 6  # every user and device id; the phone and email hashes are none


def test_a_component_without_user_or_device_id_is_no_person() -> None:
    graph = IdentityGraph(6, person_nodes=3)  # 0-2 user or device ids, 3-5 other kinds
    graph.link(np.array([4, 3, 4, 1]), np.array([0, 5, 1, 4]))  # 1-4 twice, either way round
    components = graph.components()
    assert components.heads.tolist() == [0, 2]  # {0, 1, 4} and 2, alone; {3, 5} is no person
    assert components.member_of.tolist() == [0, 0, 1, -1, 0, -1]


def test_identifiers_of_no_person_leave_no_rows() -> None:
    found = _resolve(IDENTIFIERS[-2:], [LINKS[-1]])  # the phone/email pair alone
    assert found.persons.empty
    assert found.identifiers().to_pyarrow().num_rows == 0


def test_identifiers_in_no_link_are_persons_when_user_or_device_ids() -> None:
    components = IdentityGraph(4, person_nodes=2).components()
    assert components.heads.tolist() == [0, 1]
    assert components.member_of.tolist() == [0, 1, -1, -1]


def test_links_name_nodes_of_the_graph() -> None:
    graph = IdentityGraph(6, person_nodes=3)
    with pytest.raises(ValueError, match="node 7 is not one of the 6 nodes"):
        graph.link(np.array([0, 1]), np.array([2, 7]))
    with pytest.raises(ValueError, match=r"person_nodes 7 is not within 0\.\.6 nodes"):
        IdentityGraph(6, person_nodes=7)


def test_kind_names_are_normalised() -> None:
    kinds = ibis.memtable(pa.table({"kind": ["User", " device ", "uid", "phone_hash"]}))
    con = connect()
    try:
        named = con.to_pyarrow(normalised_kind(kinds.kind)).to_pylist()
    finally:
        con.disconnect()
    assert named == ["user_id", "device_id", "user_id", "phone_hash"]


def test_pseudonym_depends_on_the_key() -> None:
    assert person_id_for("user_id:U1", key="a" * 16) != person_id_for("user_id:U1", key="b" * 16)
    assert len(person_id_for("user_id:U1", key="a" * 16)) == 24
