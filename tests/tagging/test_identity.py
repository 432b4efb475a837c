"""Identity: identifiers seen together are one person, with a stable pseudonym."""

from __future__ import annotations

from store.pseudonym import person_id_for
from tagging.identity import IdentityGraph, identifier


def _graph() -> IdentityGraph:
    graph = IdentityGraph()
    graph.add([identifier("user_id", "U2"), identifier("device_id", "lonely-device")])
    graph.link(
        [
            (identifier("user_id", "U1"), identifier("device_id", "d1")),
            (identifier("device", "d2"), identifier("user_id", "U1")),
            (identifier("user_id", "U9"), identifier("phone_hash", "ph1")),
            (identifier("user_id", "U1"), identifier("phone_hash", "ph1")),
            (identifier("phone_hash", "orphan"), identifier("email_hash", "e1")),
        ]
    )
    return graph


def test_linked_identifiers_become_one_person_with_canonical_pseudonym() -> None:
    persons, identifiers = _graph().persons(id_key="k" * 16)
    members = identifiers.groupby("person_idx")["identifier"].apply(lambda s: sorted(s)).to_dict()
    canonical = dict(zip(persons.person_idx, persons.canonical, strict=True))
    groups = {canonical[idx]: ids for idx, ids in members.items()}
    assert groups == {
        "user_id:U1": ["U1", "U9", "d1", "d2", "ph1"],
        "user_id:U2": ["U2"],
        "device_id:lonely-device": ["lonely-device"],
    }  # the phone/email pair alone is no person
    assert set(persons.person_id) == {person_id_for(c, key="k" * 16) for c in groups}


def test_person_numbers_follow_pseudonyms_not_input_order() -> None:
    persons, _ = _graph().persons(id_key="k" * 16)
    assert list(persons.person_idx) == [0, 1, 2]
    assert list(persons.person_id) == sorted(persons.person_id)


def test_pseudonym_depends_on_the_key() -> None:
    assert person_id_for("user_id:U1", key="a" * 16) != person_id_for("user_id:U1", key="b" * 16)
    assert len(person_id_for("user_id:U1", key="a" * 16)) == 24
