"""Saved audiences' membership of the persons a micro-batch (or a sweep) changed: each saved
expression evaluated on a person's tags before and after, and a change for each difference."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from store.audiences.expressions import Expression, parse
from store.audiences.person_expressions import PersonTags, compiled, keys_in
from store.live.log import ENTERED, LEFT, NewChange


class SavedAudience(NamedTuple):
    name: str
    expression: Expression
    keys: tuple[str, ...]  # the keys it reads, in order
    holds: Callable[[PersonTags], bool]  # whether a person's tags are in it

    @classmethod
    def of(cls, name: str, text: str) -> SavedAudience:
        expression = parse(text)
        return cls(name, expression, tuple(keys_in(expression)), compiled(expression))


class Moved(NamedTuple):
    """A person whose tags changed: their pseudonymous id, their tags before and after, and
    the keys that differ when the caller knows them (else they are compared here)."""

    person_id: str
    before: PersonTags
    after: PersonTags
    changed: frozenset[str] | None = None


def changes(
    audiences: Sequence[SavedAudience], moved: Sequence[Moved], *, at: datetime
) -> list[NewChange]:
    """A change for every saved audience a moved person entered or left; `why` names the
    keys the audience reads whose values changed (comma separated)."""
    found: list[NewChange] = []
    read = {key for audience in audiences for key in audience.keys}
    for person in moved:
        changed = person.changed
        if changed is None:
            changed = changed_keys(person.before, person.after, read)
        for audience in audiences:
            if changed.isdisjoint(audience.keys):
                continue  # what it reads is as it was, and so is its answer
            was, now = audience.holds(person.before), audience.holds(person.after)
            if was != now:
                why = ",".join(k for k in audience.keys if k in changed)
                change = ENTERED if now else LEFT
                found.append(NewChange(audience.name, person.person_id, change, at, why))
    return found


def departures(
    audiences: Sequence[SavedAudience],
    gone: Sequence[tuple[str, PersonTags]],
    *,
    at: datetime,
    why: str,
) -> list[NewChange]:
    """A change `left` for every saved audience each person gone (person id, their tags
    before) was in: a person who is no longer one is in none, not even those that hold for
    a person with no tags (`NOT ...`)."""
    return [
        NewChange(audience.name, person_id, LEFT, at, why)
        for person_id, before in gone
        for audience in audiences
        if audience.holds(before)
    ]


def changed_keys(before: PersonTags, after: PersonTags, keys: Iterable[str]) -> frozenset[str]:
    """The keys whose values differ between two sets of tags (in any order)."""
    return frozenset(k for k in keys if before.get(k) != after.get(k) and differ(before, after, k))


def differ(before: PersonTags, after: PersonTags, key: str) -> bool:
    """Whether `key`'s values differ between two sets of tags (in any order)."""
    was, now = before.get(key, ()), after.get(key, ())
    return was != now and _values(before, key) != _values(after, key)


def _values(tags: Mapping[str, Sequence[tuple[str, float | None]]], key: str) -> list:
    return sorted(tags.get(key, ()), key=str)
