"""Reads of profiles: persons by pseudonymous id, number or shop identifier, their tags, and a
person's history of one key across kept runs.

Statements are built once and read through `store.point_reads` (a profile is one point read);
tags are decoded from the run's dictionary (`store.profiles.rows`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Select, bindparam, func, select

from store.models import PersonIdentifier, Profile, Run, table_of
from store.point_reads import point_rows
from store.profiles.rows import decode, features_of, run_dictionary, tag_codes

USER_ID = "user_id"

_runs = table_of(Run)
_profiles = table_of(Profile)
_identifiers = table_of(PersonIdentifier)


class PersonRow(NamedTuple):
    """A person with their feature vector (None if the run computed none for them) and their
    tags as stored (`tags_of`): one read gives a whole profile."""

    person_idx: int
    person_id: str
    attributes: dict[str, Any]
    features: dict[str, Any] | None
    tags: str = "[]"


class PersonTagRow(NamedTuple):
    """One tag of one person (its key's kind is in the run's catalog, see `tag_kinds`)."""

    person_idx: int
    key: str
    value: str
    score: float | None


_PERSON_COLUMNS = [
    _profiles.c.person_idx,
    _profiles.c.person_id,
    _profiles.c.attributes,
    _profiles.c.features,
    _profiles.c.tags,
]


def _persons_where(column: Any, values: str) -> Select[Any]:
    """Profiles of one run whose `column` is among the `values` bound."""
    return select(*_PERSON_COLUMNS).where(
        _profiles.c.run_id == bindparam("run_id"),
        column.in_(bindparam(values, expanding=True)),
    )


_PERSONS_BY_PERSON_ID = _persons_where(_profiles.c.person_id, "person_ids")
_PERSONS_BY_IDX = _persons_where(_profiles.c.person_idx, "person_idxs")
# An identifier names the number its person had in the newest run that met it; the profile
# of that number in the run asked about (a person keeps the number across runs).
_PERSONS_BY_IDENTIFIER = (
    select(_identifiers.c.identifier, *_PERSON_COLUMNS)
    .select_from(_identifiers.join(_profiles, _profiles.c.person_idx == _identifiers.c.person_idx))
    .where(
        _profiles.c.run_id == bindparam("run_id"),
        _identifiers.c.kind == bindparam("kind"),
        _identifiers.c.identifier.in_(bindparam("identifiers", expanding=True)),
    )
)
_TAGS_OF_PERSONS = select(_profiles.c.person_idx, _profiles.c.tags).where(
    _profiles.c.run_id == bindparam("run_id"),
    _profiles.c.person_idx.in_(bindparam("person_idxs", expanding=True)),
)


def persons_by_person_id(
    *, connection: Connection, run_id: int, person_ids: list[str]
) -> list[PersonRow]:
    """The persons of the run among `person_ids` (pseudonymous ids), with their features."""
    parameters = {"run_id": run_id, "person_ids": person_ids}
    names = run_dictionary(connection, run_id).feature_names
    rows = point_rows(connection, _PERSONS_BY_PERSON_ID, parameters)
    return [_person(row, names) for row in rows]


def persons_by_idx(
    *, connection: Connection, run_id: int, person_idxs: list[int]
) -> list[PersonRow]:
    """The persons of the run at these positions (audience members), with their features."""
    parameters = {"run_id": run_id, "person_idxs": person_idxs}
    names = run_dictionary(connection, run_id).feature_names
    return [_person(row, names) for row in point_rows(connection, _PERSONS_BY_IDX, parameters)]


def persons_by_identifier(
    *, connection: Connection, run_id: int, identifiers: list[str], kind: str = USER_ID
) -> list[tuple[str, PersonRow]]:
    """(identifier, person) for the shop's own ids of one kind that the run knows."""
    parameters = {"run_id": run_id, "kind": kind, "identifiers": identifiers}
    names = run_dictionary(connection, run_id).feature_names
    return [
        (row[0], _person(row[1:], names))
        for row in point_rows(connection, _PERSONS_BY_IDENTIFIER, parameters)
    ]


def _person(row: Sequence[Any], feature_names: list[str]) -> PersonRow:
    person_idx, person_id, attributes, features, tags = row
    return PersonRow(
        person_idx, person_id, orjson.loads(attributes), features_of(features, feature_names), tags
    )


def tags_of(
    *, connection: Connection, run_id: int, person: PersonRow, keys: Collection[str] | None = None
) -> list[PersonTagRow]:
    """A person's tags as read with them (of the `keys` only, if given), by key, then score
    (highest first)."""
    codes = tag_codes(connection, run_id)
    return [PersonTagRow(*row) for row in decode(codes, person.person_idx, person.tags, keys)]


def tag_values_of(
    *, connection: Connection, run_id: int, persons: Collection[PersonRow], keys: Collection[str]
) -> dict[int, dict[str, list[tuple[str, float | None]]]]:
    """Each person's tags of `keys` as (value, score) lists by key, in no set order: a bulk
    read (the live path's, every step) without a row object for each tag."""
    codes = tag_codes(connection, run_id)
    wanted = {code for code, (key, _) in codes.items() if key in keys}
    found: dict[int, dict[str, list[tuple[str, float | None]]]] = {}
    for person in persons:
        tags = found[person.person_idx] = {}
        for entry in orjson.loads(person.tags):
            if entry[0] not in wanted:
                continue
            key, value = codes[entry[0]]
            score = None if len(entry) < 2 or entry[1] is None else float(entry[1])
            value = entry[2] if len(entry) > 2 else value
            tags.setdefault(key, []).append(("" if value is None else value, score))
    return found


def tags_of_persons(
    *,
    connection: Connection,
    run_id: int,
    person_idxs: list[int],
    keys: Collection[str] | None = None,
) -> list[PersonTagRow]:
    """Tags of several persons (of the `keys` only, if given), ordered by person, key, then
    score (highest first)."""
    if keys is not None and not keys:
        return []
    parameters: dict[str, Any] = {"run_id": run_id, "person_idxs": sorted(set(person_idxs))}
    rows = point_rows(connection, _TAGS_OF_PERSONS, parameters)
    codes = tag_codes(connection, run_id)
    found: list[PersonTagRow] = []
    for person_idx, tags in sorted(rows, key=lambda row: int(row[0])):
        found += [PersonTagRow(*row) for row in decode(codes, person_idx, tags, keys)]
    return found


class HistoryRow(NamedTuple):
    """A person's values of one key on one kept run (none: the run had them without it)."""

    run_id: int
    as_of: datetime
    values: list[tuple[str, float | None]]


_HISTORY = (
    select(_runs.c.id, _runs.c.as_of, _profiles.c.tags)
    .select_from(_profiles.join(_runs, _runs.c.id == _profiles.c.run_id))
    .where(_profiles.c.person_idx == bindparam("person_idx"), _runs.c.status == "committed")
    .order_by(_runs.c.id)
)


def history(*, connection: Connection, person_idx: int, key: str) -> list[HistoryRow]:
    """A person's values of `key` on every kept run that has them, oldest run first."""
    found = []
    for run_id, as_of, tags in connection.execute(_HISTORY, {"person_idx": person_idx}):
        codes = tag_codes(connection, run_id)
        rows = decode(codes, person_idx, tags, (key,))
        found.append(HistoryRow(run_id, as_of, [(row.value, row.score) for row in rows]))
    return found


def example_user_id(*, connection: Connection, run_id: int) -> str | None:
    """One of the shop's user ids in a run (the smallest), for examples and smoke checks."""
    statement = (
        select(func.min(_identifiers.c.identifier))
        .select_from(
            _identifiers.join(_profiles, _profiles.c.person_idx == _identifiers.c.person_idx)
        )
        .where(_profiles.c.run_id == run_id, _identifiers.c.kind == USER_ID)
    )
    return connection.execute(statement).scalar_one_or_none()

