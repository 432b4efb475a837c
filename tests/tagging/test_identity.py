"""Identity: identifiers seen together are one person, with a stable pseudonym."""

from __future__ import annotations

import numpy as np
import pandas as pd

from store.pseudonym import person_id_for
from tagging.identity import IdentityGraph, normalise_kind

KEY = "k" * 16
IDENTIFIERS = [
    ("user_id", "U9"), ("phone_hash", "ph1"), ("device_id", "d2"), ("user_id", "U1"),
    ("device_id", "d1"), ("user_id", "U2"), ("device_id", "lonely-device"),
    ("phone_hash", "orphan"), ("email_hash", "e1"),
]
LINKS = [
    (("user_id", "U1"), ("device_id", "d1")),
    (("device_id", "d2"), ("user_id", "U1")),
    (("user_id", "U9"), ("phone_hash", "ph1")),
    (("user_id", "U1"), ("phone_hash", "ph1")),
    (("phone_hash", "orphan"), ("email_hash", "e1")),
]


def _graph() -> IdentityGraph:
    graph = IdentityGraph(pd.DataFrame(IDENTIFIERS, columns=["kind", "identifier"]))
    for a, b in LINKS:
        node_a = graph.numbers(a[0], pd.Series([a[1]]))
        node_b = graph.numbers(b[0], pd.Series([b[1]]))
        graph.link(np.asarray(node_a), np.asarray(node_b))
    return graph


def test_linked_identifiers_become_one_person_with_canonical_pseudonym() -> None:
    persons, identifiers = _graph().persons(id_key=KEY)
    members = identifiers.groupby("person_idx")["identifier"].apply(sorted).to_dict()
    canonical = dict(zip(persons.person_idx, persons.canonical, strict=True))
    groups = {canonical[idx]: ids for idx, ids in members.items()}
    assert groups == {
        "user_id:U1": ["U1", "U9", "d1", "d2", "ph1"],
        "user_id:U2": ["U2"],
        "device_id:lonely-device": ["lonely-device"],
    }  # the phone/email pair alone is no person
    assert set(persons.person_id) == {person_id_for(c, key=KEY) for c in groups}


def test_person_numbers_follow_pseudonyms_not_input_order() -> None:
    persons, _ = _graph().persons(id_key=KEY)
    assert list(persons.person_idx) == [0, 1, 2]
    assert list(persons.person_id) == sorted(persons.person_id)
    shuffled = IdentityGraph(pd.DataFrame(IDENTIFIERS[::-1], columns=["kind", "identifier"]))
    # unlinked here, so more persons, but the ones both share get the same pseudonyms
    alone = set(shuffled.persons(id_key=KEY)[0].person_id)
    assert {person_id_for("user_id:U2", key=KEY), person_id_for("user_id:U1", key=KEY)} <= alone


def test_kind_names_are_normalised() -> None:
    assert [normalise_kind(k) for k in ("User", " device ", "uid", "phone_hash")] == [
        "user_id", "device_id", "user_id", "phone_hash",
    ]


def test_pseudonym_depends_on_the_key() -> None:
    assert person_id_for("user_id:U1", key="a" * 16) != person_id_for("user_id:U1", key="b" * 16)
    assert len(person_id_for("user_id:U1", key="a" * 16)) == 24
