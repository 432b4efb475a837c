"""Orders, order items and identities: checked as their files are read, their text kept only
for the rows that end in quarantine."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import pytest

from tagging.clean import Step, clean_sources
from tagging.clean.orders import check_order_items, check_orders
from tagging.clean.sources import check_identities
from tagging.ingest import connect, read_source
from tagging.shop import Shop
from tests.tagging.conftest import write_csv

ORDERS = """
order_id,user_id,ts,amount,discount,channel
o1,u1,2026-06-01 10:00:00,"¥1,200.50",,app
o2,u1,2026-06-02 10:00:00,20,0.5x,app
o3,u2,2026-06-03 10:00:00,30,,web
o1,u1,2026-06-04 10:00:00,5,,app
o4,u2,2026-07-05 10:00:00,40,,web
o4,u2,2026-07-06 10:00:00,41,,web
o5,,2026-06-05 10:00:00,10,,web
"""
ITEMS = """
order_id,item_id,quantity,price,category
o1,i1,2,600.25,baby
o9,i2,0,5,toys
o2,i3,1,20,toys
o3,i4,x,30,toys
o3,i5,1,30,toys
o4,i6,1,40,toys
o8,,1,1,toys
"""
IDENTITIES = """
id_a,id_b,kind_a,kind_b
u1,d1,user_id,device_id
u2,,user_id,device_id
h1,d1,,device_id
"""
AS_OF = datetime(2026, 6, 30, 23, 59, 59)


@pytest.fixture
def steps(tmp_path: Path) -> Any:
    """The three sources read with their checks and cleaned at AS_OF, as plain rows."""
    con = connect()
    try:
        read = {
            name: read_source(con, name, write_csv(tmp_path, name, text), checks=checks)
            for name, text, checks in (
                ("orders", ORDERS, check_orders),
                ("order_items", ITEMS, check_order_items),
                ("identities", IDENTITIES, check_identities),
            )
        }
        cleaned = clean_sources(
            read,
            as_of=AS_OF,
            shop=Shop(),
            bot_events_per_minute=20,
            materialise=lambda name, table: con.create_table(name, table, overwrite=True),
        )
        yield {name: _rows(step) for name, step in cleaned.items()}
    finally:
        con.disconnect()


def _rows(step: Step) -> dict[str, Any]:
    def listed(table: ir.Table) -> list[tuple[Any, ...]]:
        return sorted(tuple(row.values()) for row in table.to_pyarrow().to_pylist())

    quarantined = step.quarantined.order_by("row_number").to_pyarrow().to_pylist()
    return {
        "kept": listed(step.kept),
        "after_as_of": listed(step.after_as_of),
        "quarantined": [(q["row_number"], q["reason"], json.loads(q["raw"])) for q in quarantined],
        "order_users": [(q["row_number"], q["order_user_id"]) for q in quarantined],
    }


def test_orders_are_typed_in_the_pass_and_a_repeat_of_any_row_is_a_duplicate(steps) -> None:
    orders = steps["orders"]
    assert orders["kept"] == [
        ("o1", "u1", None, None, "app", datetime(2026, 6, 1, 10), 1200.5, 0.0),
        ("o3", "u2", None, None, "web", datetime(2026, 6, 3, 10), 30.0, 0.0),
    ]
    # o4's repeat falls after as_of too: a duplicate all the same, not an order after as_of.
    assert orders["after_as_of"] == [
        ("o4", "u2", None, None, "web", datetime(2026, 7, 5, 10), 40.0, 0.0)
    ]
    assert [(row, reason) for row, reason, _raw in orders["quarantined"]] == [
        (2, "bad_discount"),
        (4, "duplicate_order_id"),
        (6, "duplicate_order_id"),
        (7, "missing_user_id"),
    ]


def test_a_quarantined_orders_text_is_its_own_whether_kept_in_the_pass_or_read_again(
    steps,
) -> None:
    raw = {row: text for row, _reason, text in steps["orders"]["quarantined"]}
    assert raw[2] == {
        "order_id": "o2",
        "user_id": "u1",
        "ts": "2026-06-02 10:00:00",
        "amount": "20",
        "coupon_code": None,
        "discount": "0.5x",
        "pay_method": None,
        "channel": "app",
    }
    assert raw[4]["ts"] == "2026-06-04 10:00:00"
    assert raw[4]["amount"] == "5"
    assert raw[6]["amount"] == "41"


def test_an_items_missing_order_outranks_its_own_faults(steps) -> None:
    """The reasons' order is the contract's whatever is known when: an unknown order before a
    bad quantity (row 2), a bad quantity before a quarantined order (none here: o2's item, row
    3, is good, and goes with its order)."""
    items = steps["order_items"]
    assert [(row, reason) for row, reason, _raw in items["quarantined"]] == [
        (2, "unknown_order"),
        (3, "order_quarantined"),
        (4, "bad_quantity"),
        (7, "missing_item_id"),
    ]
    assert items["quarantined"][0][2] == {
        "order_id": "o9",
        "item_id": "i2",
        "quantity": "0",
        "price": "5",
        "category": "toys",
        "brand": None,
    }
    assert items["kept"] == [
        ("o1", "i1", "baby", None, 2, 600.25),
        ("o3", "i5", "toys", None, 1, 30.0),
    ]
    assert items["after_as_of"] == [("o4", "i6", "toys", None, 1, 40.0)]
    # Each quarantined line keeps the user of the order it names, found in the pass or after.
    assert items["order_users"] == [(2, None), (3, "u1"), (4, "u2"), (7, None)]
    assert {user for _row, user in steps["orders"]["order_users"]} == {None}


def test_a_pair_without_both_identifiers_is_quarantined_as_read(steps) -> None:
    identities = steps["identities"]
    assert identities["kept"] == [
        ("h1", "d1", "id", "device_id"),
        ("u1", "d1", "user_id", "device_id"),
    ]
    assert identities["quarantined"] == [
        (
            2,
            "missing_identifier",
            {"id_a": "u2", "id_b": None, "kind_a": "user_id", "kind_b": "device_id"},
        )
    ]
