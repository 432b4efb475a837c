"""Forgetting a person deletes every quarantined row of theirs from every kept run, and later
runs keep none: the rows that name one of their identifiers, and the lines of their orders,
which name no person themselves. Checked row by row against the files of a generated shop.

The generator plants order lines with a bad quantity in good orders; the later shop adds, for
each person to forget, a bad order (a negative amount) with two lines, quarantined with it.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from store import suppressions
from store.models import PersonIdentifier, Profile, RunFile, table_of
from store.runs import quarantine
from tagging.generator import generate_shop
from tagging.run import RunOptions, run_tagging
from tests.factories import commit_shop

ID_KEY = "test-id-key-0123456789"
USERS = 2_000
FORGOTTEN = 3
PLANTED_LINES = 3  # their good orders' lines with a bad quantity (seed 5)
# The files' columns that name a person, by source (the generator writes no touches).
NAMING = {
    "users": ["user_id"],
    "orders": ["user_id"],
    "events": ["user_id", "device_id"],
    "identities": ["id_a", "id_b"],
}
Rows = set[tuple[str, int]]  # (source, row number)


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """The generated shop; the same with a bad order of two lines for each user to forget; and
    those users: the first users in the file whose good orders have a line with a bad
    quantity."""
    folder = tmp_path_factory.mktemp("forgetting")
    first = folder / "june"
    generate_shop(first, users=USERS, seed=5)
    orders, items = _read(first, "orders"), _read(first, "order_items")
    bad_lines = items[pd.to_numeric(items.quantity) <= 0]
    owners = orders[orders.order_id.isin(bad_lines.order_id)].user_id.drop_duplicates()
    users = list(owners[:FORGOTTEN])
    later = folder / "july"
    shutil.copytree(first, later)
    with (later / "orders.csv").open("a") as file:
        for n, user in enumerate(users):
            file.write(f"OBAD{n},{user},2026-06-01T10:00:00Z,-12.50,,,,\n")
    with (later / "order_items.csv").open("a") as file:
        for n in range(len(users)):
            file.write(f"OBAD{n},I00001,1,5.00,,\nOBAD{n},I00002,1,7.50,,\n")
    return first, later, users


def _read(folder: Path, source: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{source}.csv", dtype=str, keep_default_na=False)


def rows_of(folder: Path, identifiers: set[str]) -> Rows:
    """The rows of the files that name one of `identifiers`, and the lines of every order whose
    row names one (row numbers from 1, as a run counts them)."""
    theirs: Rows = set()
    orders: set[str] = set()
    for source, columns in NAMING.items():
        frame = _read(folder, source)
        hit = frame[columns].isin(identifiers).any(axis=1).to_numpy()
        theirs |= {(source, int(i) + 1) for i in np.flatnonzero(hit)}
        if source == "orders":
            orders = set(frame.order_id[hit])
    lines = _read(folder, "order_items").order_id.isin(orders).to_numpy()
    return theirs | {("order_items", int(i) + 1) for i in np.flatnonzero(lines)}


def quarantined(engine: Engine, run_id: int) -> Rows:
    with engine.connect() as connection:
        frame = quarantine.rows(connection=connection, run_id=run_id)
    return set(zip(frame.source, frame.row_number.astype(int), strict=True))


def person(engine: Engine, user_id: str) -> tuple[str, set[str]]:
    """The person id of a user in the newest run, and every identifier of theirs."""
    identifiers, profiles = table_of(PersonIdentifier), table_of(Profile)
    with engine.connect() as connection:
        number = connection.execute(
            select(identifiers.c.person_idx).where(
                identifiers.c.kind == "user_id", identifiers.c.identifier == user_id
            )
        ).scalar_one()
        person_id = connection.execute(
            select(profiles.c.person_id).where(profiles.c.person_idx == number).limit(1)
        ).scalar_one()
        found = connection.execute(
            select(identifiers.c.identifier).where(identifiers.c.person_idx == number)
        ).scalars()
        return person_id, set(found)


def test_forgetting_deletes_the_persons_quarantined_rows_and_order_lines_in_every_run(
    engine: Engine, shops: tuple[Path, Path, list[str]]
) -> None:
    first, later, users = shops
    runs = [
        run_tagging(engine=engine, options=RunOptions(shop, ID_KEY)).run_id
        for shop in (first, later)
    ]
    before = [quarantined(engine, run_id) for run_id in runs]
    people = [person(engine, user) for user in users]
    identifiers = set().union(*(found for _, found in people))

    deleted = sum(
        suppressions.forget(engine=engine, person_id=p, id_key=ID_KEY, by="test").quarantined_rows
        for p, _ in people
    )
    again = run_tagging(engine=engine, options=RunOptions(later, ID_KEY)).run_id

    theirs = [rows_of(shop, identifiers) for shop in (first, later)]
    gone = [held & mine for held, mine in zip(before, theirs, strict=True)]
    after = [quarantined(engine, run_id) for run_id in runs]
    assert [held & mine for held, mine in zip(after, theirs, strict=True)] == [set(), set()]
    assert after == [held - mine for held, mine in zip(before, theirs, strict=True)]
    assert deleted == len(gone[0]) + len(gone[1])
    assert quarantined(engine, again) == before[1] - theirs[1]
    # Lines that name no person: the planted bad quantities in their good orders, and (later)
    # the two lines of each one's bad order.
    items = _read(later, "order_items")
    lines = [sorted(row for source, row in rows if source == "order_items") for rows in gone]
    bad = pd.to_numeric(items.quantity) <= 0
    planted = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())]
    assert (len(lines[0]), set(lines[0]) <= set(planted)) == (PLANTED_LINES, True)
    assert lines[1] == lines[0] + list(range(len(items) - 2 * FORGOTTEN + 1, len(items) + 1))


def test_a_file_of_an_earlier_layout_loses_the_lines_of_the_persons_quarantined_orders(
    engine: Engine,
) -> None:
    # Written before order lines kept their order's user: the lines of an order of theirs are
    # found through the order's own quarantined row, which names them.
    run_id = commit_shop(engine)
    old = pa.table(
        {
            "source": ["orders", "order_items", "order_items", "order_items"],
            "row_number": [4, 2, 5, 9],
            "reason": ["negative_amount", "order_quarantined", "bad_quantity", "unknown_order"],
            "raw": [
                '{"order_id":"o5","user_id":"ann","amount":"-5"}',
                '{"order_id":"o5","item_id":"A","quantity":"1"}',
                '{"order_id":"o4","item_id":"B","quantity":"0"}',
                '{"order_id":"o9","item_id":"C","quantity":"1"}',
            ],
        }
    )
    sink = io.BytesIO()
    pq.write_table(old, sink)
    files = table_of(RunFile)
    with engine.begin() as connection:
        connection.execute(
            update(files)
            .where(files.c.run_id == run_id, files.c.name == quarantine.FILE)
            .values(content=sink.getvalue())
        )
        deleted = quarantine.drop_naming(connection=connection, identifiers=["ann", "dev-a"])
    with engine.connect() as connection:
        kept = quarantine.rows(connection=connection, run_id=run_id)

    assert (deleted, kept.order_user_id.isna().tolist()) == (2, [True, True])
    assert kept[["source", "row_number", "reason", "raw"]].to_dict("records") == [
        {
            "source": "order_items",
            "row_number": 5,
            "reason": "bad_quantity",
            "raw": '{"order_id":"o4","item_id":"B","quantity":"0"}',
        },
        {
            "source": "order_items",
            "row_number": 9,
            "reason": "unknown_order",
            "raw": '{"order_id":"o9","item_id":"C","quantity":"1"}',
        },
    ]
