"""A run's attribution: its touches and orders as frames, the stored report and the file
kept for audiences asked on demand.

The orders' own `channel` and `coupon_code` (those the shop's `[attribution] order_touches`
names) are touches at the order's time: kind `order`, the coupon as channel `coupon` with the
code as its campaign.
"""

from __future__ import annotations

import io
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from store.attribution import ATTRIBUTION_FILE
from tagging.attribution.holdout import holdout_lifts
from tagging.attribution.paths import LEVELS, P, conversion_paths
from tagging.attribution.report import AttributionParams, attribute, summary

__all__ = [
    "ATTRIBUTION_FILE",
    "by_persona",
    "kept_file",
    "read_kept",
    "run_report",
    "touch_frames",
]
TOUCH_COLUMNS = [P, "ts", "channel", "campaign", "kind", "cost"]


def touch_frames(
    touches: ir.Table, orders: ir.Table, *, order_touches: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(touches, orders) as the models read them, from the run's p_touches and p_orders."""
    o = orders.select(P, "ts", "amount", "channel", "coupon_code").to_pyarrow().to_pandas()
    parts = [touches.select(*TOUCH_COLUMNS).to_pyarrow().to_pandas()]
    if "channel" in order_touches:
        c = o[o.channel.notna()]
        parts.append(c.assign(campaign=None, kind="order", cost=np.nan)[TOUCH_COLUMNS])
    if "coupon_code" in order_touches:
        c = o[o.coupon_code.notna()]
        parts.append(
            c.assign(channel="coupon", campaign=c.coupon_code, kind="order", cost=np.nan)[
                TOUCH_COLUMNS
            ]
        )
    frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return frame.astype({"cost": float}), o[[P, "ts", "amount"]]


def run_report(
    touches: pd.DataFrame, orders: pd.DataFrame, params: AttributionParams
) -> dict[str, Any]:
    """What a run stores: every model's credit at both levels, the holdouts, the parameters."""
    if touches.empty:
        return {"params": params.as_dict(), "note": "no touches: nothing to attribute"}
    levels = {}
    for level in LEVELS:
        paths = conversion_paths(touches, orders, window_days=params.window_days, level=level)
        table = attribute(touches, orders, level=level, params=params, paths=paths)
        levels[level] = {"summary": summary(paths), "rows": _records(table)}
    lifts = holdout_lifts(touches, orders, window_days=params.window_days)
    return {"params": params.as_dict(), "levels": levels, "holdouts": _records(lifts)}


def by_persona(
    touches: pd.DataFrame, orders: pd.DataFrame, personas: pd.DataFrame, params: AttributionParams
) -> dict[str, Any]:
    """Per persona (`personas`: person_idx, persona): every model's credit at both levels over
    its members' touches and orders, as `run_report` has it for everyone (no holdouts: a
    persona is no random part of a campaign)."""
    found: dict[str, Any] = {}
    touches = touches.merge(personas, on=P)
    orders = orders.merge(personas, on=P)
    for persona, mine in touches.groupby("persona", sort=True):
        theirs = orders[orders.persona == persona]
        levels = {}
        for level in LEVELS:
            paths = conversion_paths(mine, theirs, window_days=params.window_days, level=level)
            table = attribute(mine, theirs, level=level, params=params, paths=paths)
            levels[level] = {"summary": summary(paths), "rows": _records(table)}
        found[str(persona)] = levels
    return found


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]


def kept_file(touches: pd.DataFrame, orders: pd.DataFrame) -> bytes:
    """The touches and orders as one Parquet file (a `table` column says which), for
    attribution within an audience on demand."""
    both = pd.concat(
        [touches.assign(table="touch", amount=np.nan), orders.assign(table="order")],
        ignore_index=True,
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(both, preserve_index=False), sink)
    return sink.getvalue()


def read_kept(content: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`kept_file`'s touches and orders."""
    both = pq.read_table(io.BytesIO(content)).to_pandas()
    touches = both[both.table == "touch"][TOUCH_COLUMNS].reset_index(drop=True)
    orders = both[both.table == "order"][[P, "ts", "amount"]].reset_index(drop=True)
    return touches, orders
