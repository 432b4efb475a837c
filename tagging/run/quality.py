"""The quality report of a run (per source: encoding, rows read, kept, after as_of, dropped by
reason, optional values that could not be read), and the gate a run must pass: an orders file
with rows, some of them usable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis.expr.types as ir

from store.errors import InputError
from tagging.clean import Step
from tagging.ingest import Source

# The column a reason is about, for an example of the offending value.
REASON_COLUMNS = {
    "missing_order_id": "order_id",
    "duplicate_order_id": "order_id",
    "missing_user_id": "user_id",
    "bad_timestamp": "ts",
    "bad_amount": "amount",
    "negative_amount": "amount",
    "bad_discount": "discount",
}


def quality_report(
    raw: dict[str, ir.Table],
    steps: dict[str, Step],
    sources: dict[str, Source],
    *,
    count: Callable[[ir.Table], int],
) -> dict[str, dict[str, Any]]:
    report: dict[str, dict[str, Any]] = {}
    for name, step in steps.items():
        report[name] = {
            "read": count(raw[name]),
            "kept": count(step.kept),
            "after_as_of": count(step.after_as_of),
            "dropped": _reasons(step.quarantined),
            "unreadable": step.unreadable,
            "encoding": sources[name].encoding,
        }
    if "users" in steps:
        # Orders of buyers the users file does not list are kept (they get no demographic tags).
        orders, users = steps["orders"].kept, steps["users"].kept
        unlisted = orders.filter(orders.user_id.notin(users.user_id))
        report["orders"]["users_not_listed"] = count(unlisted)
    return report


def _reasons(quarantined: ir.Table) -> dict[str, int]:
    reasons = quarantined.group_by("reason").agg(n=quarantined.count()).to_pyarrow().to_pylist()
    return {str(r["reason"]): int(r["n"]) for r in sorted(reasons, key=lambda r: r["reason"])}


def require_rows(path: Path, orders: ir.Table) -> None:
    """An orders file with a header and no rows stops the run, saying so."""
    if orders.count().to_pyarrow().as_py() == 0:
        raise InputError(
            f"{path}: has a header but no rows; orders is the one source every run needs"
        )


def no_timestamps(path: Path, orders: ir.Table) -> InputError:
    """The error for an orders file none of whose `ts` values is a time, with an example.

    `orders` are the checked orders: a row without a timestamp is a bad row, its text kept."""
    bad = orders.filter(orders._ts.isnull()).order_by("_row").limit(1)
    first = bad.select("_row", "_raw").to_pyarrow().to_pylist()
    if not first:
        return InputError(f"{path}: no order has a readable timestamp in column 'ts'")
    value = json.loads(first[0]["_raw"])["ts"]
    return InputError(
        f"{path}: no order has a readable timestamp in column 'ts', "
        f"for example {value!r} in row {first[0]['_row']}"
    )


def require_orders(path: Path, orders: ir.Table, step: Step, *, as_of: datetime) -> None:
    """A run needs usable orders: when none is, the error gives each reason, its count and an
    example of the offending value, or says that every order falls after as_of."""
    if step.kept.count().to_pyarrow().as_py() > 0:
        return
    read = orders.count().to_pyarrow().as_py()
    later = step.after_as_of.count().to_pyarrow().as_py()
    if later:
        raise InputError(
            f"{path}: none of its {read:,} orders is on or before as_of "
            f"{as_of:%Y-%m-%d %H:%M:%S} ({later:,} are after it)"
        )
    reasons = _reasons(step.quarantined)
    listed = ", ".join(f"{reason} {n:,}" for reason, n in reasons.items())
    raise InputError(f"{path}: {read:,} rows, none usable: {listed}{_example(step.quarantined)}")


def _example(quarantined: ir.Table) -> str:
    first = quarantined.order_by("row_number").limit(1).to_pyarrow().to_pylist()
    if not first:
        return ""
    row = first[0]
    column = REASON_COLUMNS.get(row["reason"])
    value = json.loads(row["raw"]).get(column) if column else None
    shown = f"{column} {value!r}" if column else row["reason"]
    return f", for example {shown} in row {row['row_number']}"
