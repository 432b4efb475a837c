"""Each source's kept rows with their person (tagging.persons.attach)."""

from __future__ import annotations

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from tagging.clean import Step
from tagging.identity import PERSON as P
from tagging.ingest import connect
from tagging.persons import Persons, attach

IDENTIFIERS = [
    ("user_id", "u1", 0),
    ("user_id", "u2", 1),
    ("device_id", "d1", 0),
    ("device_id", "d2", 2),
]
# (user_id, device_id) of each kept event, and the person it belongs to: its user's, else its
# device's; none for an identifier no person has (a forgotten person's).
EVENTS = [
    ("u1", None, 0),
    ("u1", None, 0),
    (None, "d2", 2),
    ("u2", "d1", 1),
    ("u1", "d2", 0),
    (None, "d9", None),
    ("u9", None, None),
]
_OTHERS = ("item_id", "category", "brand", "platform", "os")


def _table(columns: dict[str, pa.Array]) -> ibis.Table:
    return ibis.memtable(pa.table(columns))


@pytest.mark.parametrize("with_actors", [True, False])
def test_each_event_is_its_users_person_else_its_devices(with_actors: bool) -> None:
    con = connect()
    try:

        def materialise(name: str, table: ibis.Table) -> ibis.Table:
            return con.create_table(name, table, overwrite=True)

        kinds, values, numbers = zip(*IDENTIFIERS, strict=True)
        identifiers = _table(
            {"kind": pa.array(kinds), "identifier": pa.array(values), P: pa.array(numbers)}
        )
        users, devices, _ = zip(*EVENTS, strict=True)
        events = materialise(
            "events",
            _table(
                {
                    "user_id": pa.array(users, pa.string()),
                    "device_id": pa.array(devices, pa.string()),
                    "event_type": pa.array([f"e{i}" for i in range(len(EVENTS))]),
                    "ts": pa.array([None] * len(EVENTS), pa.timestamp("us")),
                    **{c: pa.array([None] * len(EVENTS), pa.string()) for c in _OTHERS},
                }
            ),
        )
        orders = _table(
            {
                "order_id": pa.array([], pa.string()),
                "user_id": pa.array([], pa.string()),
            }
        )
        steps = {
            "orders": Step(kept=orders, quarantined=orders, after_as_of=orders),
            "events": Step(kept=events, quarantined=events, after_as_of=events),
        }
        actors = events.select("user_id", "device_id").distinct() if with_actors else None
        persons = Persons(
            pd.DataFrame({P: [0, 1, 2], "person_id": ["a", "b", "c"]}),
            identifiers,
            None,
            actors,
        )
        tables = attach(steps, persons, materialise=materialise)
        found = tables["events"].select(P, "event_type").to_pyarrow().to_pylist()
    finally:
        con.disconnect()
    expected = [(f"e{i}", p) for i, (_u, _d, p) in enumerate(EVENTS) if p is not None]
    assert sorted((r["event_type"], r[P]) for r in found) == expected
