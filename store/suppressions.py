"""Forgetting a person: out of every run, and onto the suppression list later runs respect.

The list holds keyed HMACs of the person's identifiers (`kind:identifier`, keyed with
`PORTRAIT_ID_KEY`), never the identifiers: a run hashes the identifiers it meets and leaves
out every person one of whose identifiers is listed (tagging.run.pipeline), so the person is not
derived again from the same account or device, even when it links to new ones.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np
import orjson
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyroaring import BitMap
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Engine

from store.audiences.bitmaps import pack, unpack
from store.live import lines as live_lines
from store.live import log as live
from store.live import profiles as live_profiles
from store.models import (
    Outcome,
    PersonIdentifier,
    PersonNumber,
    Profile,
    Recommendation,
    Run,
    RunFile,
    RunMembers,
    Suppression,
    TagBitmap,
    table_of,
)
from store.profiles.pseudonym import SUPPRESSION_PREFIX, identifier_digest, suppression_digest
from store.profiles.rows import tag_codes
from store.runs import quarantine

_profiles = table_of(Profile)
_identifiers = table_of(PersonIdentifier)
_numbers = table_of(PersonNumber)
_bitmaps = table_of(TagBitmap)
_members = table_of(RunMembers)
_suppressions = table_of(Suppression)
_runs = table_of(Run)
_files = table_of(RunFile)
# Every table with a row per person of a run, the profiles last.
PER_PERSON = [table_of(t) for t in (Recommendation, Outcome, Profile)]
PERSON_COLUMN = "person_idx"
LATE = "suppression list"  # who forgets a person listed while a run was working


class Forgotten(NamedTuple):
    person_id: str
    runs: int  # runs the person was removed from
    identifiers: int  # identifiers put on the suppression list
    quarantined_rows: int  # quarantined source rows of theirs (store.runs.quarantine), deleted
    live_rows: int  # rows of the live path that held them (store.live.log.forget)


def digests(*, connection: Connection) -> frozenset[str]:
    """The list, every entry in the list's own domain (an entry written before it had one is
    read as it would be written now, until `upgrade` rewrites it)."""
    stored = connection.execute(select(_suppressions.c.digest)).scalars()
    return frozenset(
        digest if digest.startswith(SUPPRESSION_PREFIX) else suppression_digest(digest)
        for digest in stored
    )


def upgrade(*, connection: Connection) -> int:
    """Rewrite entries listed before the list had a domain of its own (each began with the
    forgotten person's pseudonym); how many there were."""
    old = [
        digest
        for digest in connection.execute(select(_suppressions.c.digest)).scalars()
        if not digest.startswith(SUPPRESSION_PREFIX)
    ]
    for digest in old:
        connection.execute(
            update(_suppressions)
            .where(_suppressions.c.digest == digest)
            .values(digest=suppression_digest(digest))
        )
    return len(old)


def forget(*, engine: Engine, person_id: str, id_key: str, by: str) -> Forgotten | None:
    """Remove the person from every kept run and list their identifiers; None if no run has
    them and the live path has not created them either (a person created live is in the
    registry of person numbers before any run has them).

    One transaction: the person is gone from every run (profile, bitmaps, scores, rules'
    recommendations, outcomes, baskets, quarantined rows naming them or lines of their orders)
    and from the live path (events, orders, quarantined posts, membership changes), or from
    none.
    """
    with engine.begin() as connection:
        upgrade(connection=connection)
        registered = set(
            map(
                int,
                connection.execute(
                    select(_numbers.c.number).where(_numbers.c.person_id == person_id)
                ).scalars(),
            )
        )
        # The persons merged into theirs are them too: their profiles in earlier runs (or in
        # the current one, merged live since) and their membership changes go with them. So
        # is every earlier profile of their numbers (a merge may keep another person's).
        merged = _merged_into(connection, registered)
        places = connection.execute(
            select(_profiles.c.run_id, _profiles.c.person_idx, _profiles.c.tags).where(
                (_profiles.c.person_id == person_id)
                | _profiles.c.person_idx.in_(sorted(registered | merged))
            )
        ).all()
        numbers = sorted({int(number) for _, number, _ in places} | registered)
        if not numbers:
            return None
        merged_ids = connection.execute(
            select(_numbers.c.person_id).where(
                _numbers.c.number.in_(sorted(merged)), _numbers.c.person_id.is_not(None)
            )
        ).scalars()
        found = connection.execute(
            select(_identifiers.c.kind, _identifiers.c.identifier).where(
                _identifiers.c.person_idx.in_(numbers)
            )
        ).all()
        listed = {identifier_digest(kind, identifier, key=id_key) for kind, identifier in found}
        _list(connection, listed - digests(connection=connection), by=by)
        # Of every kept run, also those without the person (all their rows there were bad).
        quarantined = quarantine.drop_naming(
            connection=connection, identifiers=[identifier for _, identifier in found]
        )
        # Their live orders' lines, while the orders still name them.
        live_rows = live_lines.forget(
            connection=connection, user_ids=[i for kind, i in found if kind == "user_id"]
        )
        live_rows += live.forget(
            connection=connection,
            person_id=person_id,
            identifiers=[identifier for _, identifier in found],
        )
        for other in sorted(set(merged_ids) - {person_id}):
            live_rows += live.forget(connection=connection, person_id=other, identifiers=[])
        for run_id, number, tags in places:
            _drop_baskets(connection, run_id, number)
            _drop_from_bitmaps(connection, run_id, number, tags)
            for table in PER_PERSON:
                connection.execute(
                    delete(table).where(table.c.run_id == run_id, table.c[PERSON_COLUMN] == number)
                )
            connection.execute(
                update(_runs).where(_runs.c.id == run_id).values(persons=_runs.c.persons - 1)
            )
        live_rows += live_profiles.forget(connection=connection, numbers=numbers)
        connection.execute(delete(_identifiers).where(_identifiers.c.person_idx.in_(numbers)))
        # The number stays taken (numbers are never reused) but no longer names anyone.
        connection.execute(
            update(_numbers)
            .where((_numbers.c.person_id == person_id) | _numbers.c.number.in_(sorted(merged)))
            .values(person_id=None)
        )
    runs = len({run_id for run_id, _, _ in places})
    return Forgotten(person_id, runs, len(listed), quarantined, live_rows)


def _merged_into(connection: Connection, numbers: set[int]) -> set[int]:
    """The numbers retired into any of `numbers` by merges, and into those, and so on."""
    found: set[int] = set()
    wanted = set(numbers)
    while wanted:
        retired = connection.execute(
            select(_numbers.c.number).where(_numbers.c.retired_into.in_(sorted(wanted)))
        ).scalars()
        wanted = set(map(int, retired)) - found - numbers
        found |= wanted
    return found


def _drop_from_bitmaps(connection: Connection, run_id: int, number: int, tags: str) -> None:
    """Take the person's number out of the run's bitmaps of their tags, of those tags' keys
    (with their sorted scores), and of the run's persons."""
    codes = tag_codes(connection, run_id)
    keys = {codes[entry[0]][0] for entry in orjson.loads(tags)}
    rows = connection.execute(
        select(
            _bitmaps.c.code, _bitmaps.c.members, _bitmaps.c.score_persons, _bitmaps.c.score_values
        ).where(_bitmaps.c.run_id == run_id, _bitmaps.c.key.in_(sorted(keys)))
    ).all()
    for code, members, score_persons, score_values in rows:
        bitmap = BitMap.deserialize(members)
        if number not in bitmap:
            continue
        bitmap.discard(number)
        values: dict[str, object] = {"members": bitmap.serialize(), "persons": len(bitmap)}
        if score_persons is not None:
            persons = unpack(score_persons, np.uint32)
            keep = persons != number
            values["score_persons"] = pack(persons[keep])
            values["score_values"] = pack(unpack(score_values, np.float64)[keep])
        connection.execute(
            update(_bitmaps)
            .where(_bitmaps.c.run_id == run_id, _bitmaps.c.code == code)
            .values(**values)
        )
    everyone = connection.execute(
        select(_members.c.members).where(_members.c.run_id == run_id)
    ).scalar_one_or_none()
    if everyone is not None:
        bitmap = BitMap.deserialize(everyone)
        bitmap.discard(number)
        connection.execute(
            update(_members).where(_members.c.run_id == run_id).values(members=bitmap.serialize())
        )


def _list(connection: Connection, new: Iterable[str], *, by: str) -> None:
    now = datetime.now(UTC)
    rows = [{"digest": d, "forgotten_at": now, "forgotten_by": by} for d in sorted(new)]
    if rows:
        connection.execute(insert(_suppressions), rows)


def _drop_baskets(connection: Connection, run_id: int, person_idx: int) -> None:
    """Rewrite the run's baskets file (tagging.basket.baskets_file) without the person."""
    row = connection.execute(
        select(_files.c.name, _files.c.content).where(_files.c.run_id == run_id)
    ).all()
    for name, content in row:
        if not name.endswith(".parquet"):
            continue
        table = pq.read_table(io.BytesIO(content))
        if PERSON_COLUMN not in table.column_names:
            continue
        kept = table.filter(pc.not_equal(table[PERSON_COLUMN], person_idx))
        sink = io.BytesIO()
        pq.write_table(kept, sink, compression="zstd", use_dictionary=True)
        connection.execute(
            update(_files)
            .where(_files.c.run_id == run_id, _files.c.name == name)
            .values(content=sink.getvalue())
        )


def forget_late(*, engine: Engine, run_id: int, known: frozenset[str], id_key: str) -> int:
    """Forget, in the run just committed, the persons listed after it read the list (`known`);
    how many there were."""
    with engine.connect() as connection:
        new = digests(connection=connection) - known
        if not new:
            return 0
        rows = connection.execute(
            select(_profiles.c.person_id, _identifiers.c.kind, _identifiers.c.identifier)
            .join(_identifiers, _identifiers.c.person_idx == _profiles.c.person_idx)
            .where(_profiles.c.run_id == run_id)
        ).all()
    late = sorted(
        {
            person_id
            for person_id, kind, identifier in rows
            if identifier_digest(kind, identifier, key=id_key) in new
        }
    )
    for person_id in late:
        forget(engine=engine, person_id=person_id, id_key=id_key, by=LATE)
    return len(late)
