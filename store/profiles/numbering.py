"""Stable person numbers: the registry that gives each person the same number in every run.

A run's persons arrive numbered 0..n-1 in that run (`dense`). Each gets the number of the
person it was before, found through the registries of identifiers and of pseudonyms:

- a person whose identifiers (or person_id) were one person's keeps that person's number;
- a **merge** (identifiers of several earlier persons in one person now) keeps the lowest of
  their numbers and retires the others into it;
- a **split** (one earlier person's identifiers in several persons now) keeps the number for
  the part that holds the canonical identifier, which is the part with the same person_id;
  the other parts take their next candidate, or a new number;
- a new person gets a new number; numbers are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Select, bindparam, func, select, update

from store.models import PersonIdentifier, PersonNumber, table_of
from store.snapshot import bulk

_numbers = table_of(PersonNumber)
_identifiers = table_of(PersonIdentifier)
NUMBERS_LOCK = 7_270_002  # PostgreSQL advisory lock id of "reading and growing the registries"


@dataclass(frozen=True)
class Numbering:
    numbers: np.ndarray  # int64, the stable number of each dense person
    new: int  # persons given a new number
    retired: int  # numbers retired into another by a merge


def assign(
    conn: Connection, *, run_id: int, persons: pd.DataFrame, identifiers: pd.DataFrame
) -> Numbering:
    """Number the run's persons and record the numbers in both registries, inside the caller's
    transaction.

    `persons` has person_idx (the run's own numbering) and person_id; `identifiers` kind,
    identifier and person_idx. The result's `numbers[person_idx]` is each person's number.
    """
    lock_registries(conn)
    persons = persons.sort_values("person_idx", kind="stable").reset_index(drop=True)
    dense = persons["person_idx"].to_numpy(dtype=np.int64)
    position = np.full(int(dense.max()) + 1 if len(dense) else 0, -1, dtype=np.int64)
    position[dense] = np.arange(len(dense))
    registered = _registered(conn)
    known = _known_identifiers(conn)
    people = pd.DataFrame(
        {"person_id": persons["person_id"].astype(str), "dense": np.arange(len(dense))}
    )
    mine = identifiers[["kind", "identifier"]].assign(
        person_idx=position[identifiers["person_idx"].to_numpy(dtype=np.int64)]
    )
    candidates = pd.concat(
        [
            mine.merge(known, on=["kind", "identifier"])[["person_idx", "number"]],
            people.merge(registered, on="person_id")[["dense", "number"]].rename(
                columns={"dense": "person_idx"}
            ),
        ]
    ).drop_duplicates()
    owners = dict(zip(registered["number"], registered["person_id"], strict=True))
    first = _next_number(conn)
    numbers, new = _choose(candidates, people["person_id"].tolist(), owners, first)
    retired = _retired(candidates, numbers)
    _record_numbers(conn, run_id, people, numbers, registered, retired, first)
    _record_identifiers(conn, mine, numbers, known)
    by_dense = np.full(len(position), -1, dtype=np.int64)
    by_dense[dense] = numbers
    return Numbering(by_dense, new, len(retired))


def lock_registries(conn: Connection) -> None:
    """Hold the registries for the caller's transaction, before reading them: a run's
    numbering and a live step that creates persons would otherwise both read the same highest
    number (and the same unknown identifiers) and collide on the registries' keys. PostgreSQL
    only: on SQLite the write lock serialises writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(NUMBERS_LOCK)))


def _next_number(conn: Connection) -> int:
    """One past the highest number ever given: rows are never deleted, so none is reused."""
    highest = conn.execute(select(func.max(_numbers.c.number))).scalar_one()
    return 0 if highest is None else int(highest) + 1


def _registered(conn: Connection) -> pd.DataFrame:
    """person_id and number of every number in use (not retired, not forgotten)."""
    statement = select(_numbers.c.person_id, _numbers.c.number).where(
        _numbers.c.retired_into.is_(None), _numbers.c.person_id.is_not(None)
    )
    return _frame(conn, statement, ["person_id", "number"])


def _known_identifiers(conn: Connection) -> pd.DataFrame:
    columns = [_identifiers.c.kind, _identifiers.c.identifier, _identifiers.c.person_idx]
    return _frame(conn, select(*columns), ["kind", "identifier", "number"])


def _frame(conn: Connection, statement: Select[Any], names: list[str]) -> pd.DataFrame:
    """A whole registry read on the driver's cursor, as tuples: a million rows as SQLAlchemy
    rows took 5 s to become a frame, as tuples well under one."""
    compiled = statement.compile(dialect=conn.dialect)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return pd.DataFrame.from_records(rows, columns=names).astype({"number": "int64"})


def _choose(
    candidates: pd.DataFrame, person_ids: list[str], owners: dict[int, str], first: int
) -> tuple[np.ndarray, int]:
    """Each dense person's number: its lowest free candidate, the canonical holder first."""
    n = len(person_ids)
    numbers = np.full(n, -1, dtype=np.int64)
    ordered = candidates.sort_values(["person_idx", "number"], kind="stable")
    lowest = ordered.drop_duplicates("person_idx")
    claims = lowest.groupby("number")["person_idx"].transform("size")
    alone = lowest[claims == 1]
    numbers[alone["person_idx"].to_numpy()] = alone["number"].to_numpy()
    taken = set(alone["number"].tolist())
    contested = lowest[claims > 1]
    if len(contested):
        options = {
            int(str(p)): [int(x) for x in group["number"]]
            for p, group in ordered[ordered["person_idx"].isin(contested["person_idx"])].groupby(
                "person_idx"
            )
        }
        # The holder of the canonical identifier (the same person_id) chooses first.
        order = sorted(options, key=lambda p: (owners.get(options[p][0]) != person_ids[p], p))
        for person in order:
            free = [x for x in options[person] if x not in taken]
            if free:
                numbers[person] = free[0]
                taken.add(free[0])
    missing = np.flatnonzero(numbers < 0)
    numbers[missing] = np.arange(first, first + len(missing), dtype=np.int64)
    return numbers, len(missing)


def _retired(candidates: pd.DataFrame, numbers: np.ndarray) -> dict[int, int]:
    """Numbers that were a candidate of a person now but nobody's number: retired into the
    number that person got (a merge)."""
    unchosen = candidates[~candidates["number"].isin(numbers)]
    retired: dict[int, int] = {}
    for person, number in unchosen[["person_idx", "number"]].itertuples(index=False):
        into = int(numbers[person])
        retired[int(number)] = min(into, retired.get(int(number), into))
    return retired


def _record_numbers(
    conn: Connection,
    run_id: int,
    people: pd.DataFrame,
    numbers: np.ndarray,
    registered: pd.DataFrame,
    retired: dict[int, int],
    first: int,
) -> None:
    """Retire merged-away numbers, hand kept numbers to their person_id now, add new ones."""
    if retired:
        conn.execute(
            update(_numbers)
            .where(_numbers.c.number == bindparam("old"))
            .values(retired_into=bindparam("into")),
            [{"old": old, "into": into} for old, into in sorted(retired.items())],
        )
    now = pd.DataFrame({"person_id": people["person_id"], "number": numbers})
    both = now.merge(registered, on="number", how="left", suffixes=("", "_before"))
    fresh = both[both["number"] >= first]
    handed = both[(both["number"] < first) & (both["person_id_before"] != both["person_id"])]
    if len(handed):
        conn.execute(
            update(_numbers)
            .where(_numbers.c.number == bindparam("n"))
            .values(person_id=bindparam("pid"), retired_into=None),
            [
                {"n": int(n), "pid": p}
                for n, p in zip(handed["number"], handed["person_id"], strict=True)
            ],
        )
    frame = fresh[["number", "person_id"]].assign(first_run_id=run_id, retired_into=None)
    bulk.insert_rows(conn, _numbers, None, frame)


def _record_identifiers(
    conn: Connection, mine: pd.DataFrame, numbers: np.ndarray, known: pd.DataFrame
) -> None:
    now = mine.assign(number=numbers[mine["person_idx"].to_numpy()])[
        ["kind", "identifier", "number"]
    ]
    both = now.merge(known, on=["kind", "identifier"], how="left", suffixes=("", "_before"))
    fresh = both[both["number_before"].isna()]
    moved = both[both["number_before"].notna() & (both["number_before"] != both["number"])]
    if len(moved):
        conn.execute(
            update(_identifiers)
            .where(
                _identifiers.c.kind == bindparam("k"), _identifiers.c.identifier == bindparam("i")
            )
            .values(person_idx=bindparam("n")),
            [
                {"k": k, "i": i, "n": int(n)}
                for k, i, n in zip(moved["kind"], moved["identifier"], moved["number"], strict=True)
            ],
        )
    frame = fresh[["kind", "identifier", "number"]].rename(columns={"number": "person_idx"})
    bulk.insert_rows(conn, _identifiers, None, frame)
