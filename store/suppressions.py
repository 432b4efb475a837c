"""Forgetting a person: out of every run, and onto the suppression list later runs respect.

The list holds keyed HMACs of the person's identifiers (`kind:identifier`, keyed with
`PORTRAIT_ID_KEY`), never the identifiers: a run hashes the identifiers it meets and leaves
out every person one of whose identifiers is listed (tagging.run.pipeline), so the person is not
derived again from the same account or device, even when it links to new ones.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine

from store.models import (
    FeatureRow,
    Outcome,
    Person,
    PersonIdentifier,
    PersonTag,
    QuarantineRow,
    Recommendation,
    Run,
    RunFile,
    Suppression,
    table_of,
)
from store.pseudonym import SUPPRESSION_PREFIX, identifier_digest, suppression_digest

_persons = table_of(Person)
_identifiers = table_of(PersonIdentifier)
_suppressions = table_of(Suppression)
_quarantine = table_of(QuarantineRow)
_runs = table_of(Run)
_files = table_of(RunFile)
# Every table with a row per person of a run, the persons table last.
PER_PERSON = [table_of(t) for t in (PersonTag, FeatureRow, Recommendation, Outcome)]
PERSON_COLUMN = "person_idx"
LATE = "suppression list"  # who forgets a person listed while a run was working


class Forgotten(NamedTuple):
    person_id: str
    runs: int  # runs the person was removed from
    identifiers: int  # identifiers put on the suppression list
    quarantined_rows: int  # quarantined source rows that named one of them, deleted


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
    """Remove the person from every run and list their identifiers; None if no run has them.

    One transaction: the person is gone from every run, or from none.
    """
    with engine.begin() as connection:
        upgrade(connection=connection)
        places = connection.execute(
            select(_persons.c.run_id, _persons.c.person_idx).where(
                _persons.c.person_id == person_id
            )
        ).all()
        if not places:
            return None
        where = or_(
            *(
                and_(_identifiers.c.run_id == run_id, _identifiers.c.person_idx == idx)
                for run_id, idx in places
            )
        )
        found = connection.execute(
            select(_identifiers.c.run_id, _identifiers.c.kind, _identifiers.c.identifier).where(
                where
            )
        ).all()
        listed = {identifier_digest(kind, identifier, key=id_key) for _, kind, identifier in found}
        _list(connection, listed - digests(connection=connection), by=by)
        quarantined = 0
        for run_id, idx in places:
            names = [identifier for run, _, identifier in found if run == run_id]
            quarantined += _delete_quarantined(connection, run_id, names)
            _drop_baskets(connection, run_id, idx)
            for table in [*PER_PERSON, _identifiers, _persons]:
                connection.execute(
                    delete(table).where(table.c.run_id == run_id, table.c[PERSON_COLUMN] == idx)
                )
            connection.execute(
                update(_runs).where(_runs.c.id == run_id).values(persons=_runs.c.persons - 1)
            )
    return Forgotten(person_id, len(places), len(listed), quarantined)


def _list(connection: Connection, new: Iterable[str], *, by: str) -> None:
    now = datetime.now(UTC)
    rows = [{"digest": d, "forgotten_at": now, "forgotten_by": by} for d in sorted(new)]
    if rows:
        connection.execute(insert(_suppressions), rows)


def _delete_quarantined(connection: Connection, run_id: int, identifiers: list[str]) -> int:
    """Quarantined rows keep their raw values as JSON: delete those naming an identifier."""
    if not identifiers:
        return 0
    needles = [json.dumps(identifier, ensure_ascii=False) for identifier in identifiers]
    done = connection.execute(
        delete(_quarantine).where(
            _quarantine.c.run_id == run_id,
            or_(*(_quarantine.c.raw.contains(needle, autoescape=True) for needle in needles)),
        )
    )
    return int(done.rowcount)


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
            select(_persons.c.person_id, _identifiers.c.kind, _identifiers.c.identifier)
            .join(
                _identifiers,
                (_identifiers.c.run_id == _persons.c.run_id)
                & (_identifiers.c.person_idx == _persons.c.person_idx),
            )
            .where(_persons.c.run_id == run_id)
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
