"""What a campaign caused, from its random holdout: the conversion of the persons it contacted
against that of the persons it held out (`holdout` touches: in the campaign, not contacted).

A person converts when they order within the window after their first touch of the campaign
(contacted or held out). The lift is the difference of the two rates with a 95% Wald interval;
incremental conversions are the lift times the persons contacted. Attribution models divide
credit among the touches on the paths; only a holdout answers whether the orders would have
come without the campaign.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tagging.attribution.paths import NOT_CONTACT, P

Z_95 = 1.959964


COLUMNS = [
    "campaign",
    "contacted",
    "contacted_converted",
    "held_out",
    "held_out_converted",
    "lift",
    "low",
    "high",
    "incremental",
]


def holdout_lifts(
    touches: pd.DataFrame, orders: pd.DataFrame, *, window_days: float
) -> pd.DataFrame:
    """Per campaign with a holdout: contacted, contacted_converted, held_out,
    held_out_converted, lift, low, high, incremental (one row each; none without holdouts)."""
    with_campaign = touches[touches.campaign.notna()]
    held = with_campaign.kind.isin(NOT_CONTACT)
    tested = with_campaign[with_campaign.campaign.isin(with_campaign[held].campaign.unique())]
    if tested.empty:
        return pd.DataFrame({c: [] for c in COLUMNS})
    first = tested.assign(held=tested.kind.isin(NOT_CONTACT))
    # Each person's first touch of the campaign; one both contacted and held out (a data
    # error) counts as contacted.
    first = first.groupby(["campaign", P]).agg(ts=("ts", "min"), held=("held", "all"))
    first = first.reset_index().astype({"ts": "datetime64[us]"})
    window = pd.Timedelta(seconds=int(window_days * 86_400))
    ordered = orders[[P, "ts"]].astype({"ts": "datetime64[us]"})
    joined = first.merge(ordered.rename(columns={"ts": "order_ts"}), on=P, how="left")
    joined["hit"] = (joined.order_ts > joined.ts) & (joined.order_ts <= joined.ts + window)
    converted = joined.groupby(["campaign", P], sort=True).hit.any().to_numpy()
    first = first.assign(
        nt=~first.held, nc=first.held, xt=converted & ~first.held, xc=converted & first.held
    )
    counts = first.groupby("campaign")[["nt", "nc", "xt", "xc"]].sum()
    return pd.DataFrame(
        [
            _lift(campaign, *row)
            for campaign, row in zip(
                counts.index, counts.fillna(0).to_numpy(dtype=np.int64), strict=True
            )
        ],
        columns=COLUMNS,
    )


def _lift(campaign: str, nt: int, nc: int, xt: int, xc: int) -> list[object]:
    pt = xt / nt if nt else 0.0
    pc = xc / nc if nc else 0.0
    se = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc) if nt and nc else 0.0
    lift = pt - pc
    return [campaign, nt, xt, nc, xc, lift, lift - Z_95 * se, lift + Z_95 * se, lift * nt]
