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

import pandas as pd

from tagging.attribution.paths import NOT_CONTACT, P

Z_95 = 1.959964


def holdout_lifts(
    touches: pd.DataFrame, orders: pd.DataFrame, *, window_days: float
) -> pd.DataFrame:
    """Per campaign with a holdout: contacted, contacted_converted, held_out,
    held_out_converted, lift, low, high, incremental (one row each; none without holdouts)."""
    with_campaign = touches[touches.campaign.notna()]
    held = with_campaign.kind.isin(NOT_CONTACT)
    campaigns = sorted(with_campaign[held].campaign.unique())
    rows = [
        _lift(campaign, with_campaign[with_campaign.campaign == campaign], orders, window_days)
        for campaign in campaigns
    ]
    columns = [
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
    return pd.DataFrame(rows, columns=columns)


def _lift(campaign: str, touches: pd.DataFrame, orders: pd.DataFrame, window_days: float) -> dict:
    first = touches.assign(held=touches.kind.isin(NOT_CONTACT))
    # A person both contacted and held out (a data error) counts as contacted.
    first = first.groupby(P).agg(ts=("ts", "min"), held=("held", "all")).reset_index()
    window = pd.Timedelta(seconds=int(window_days * 86_400))
    joined = first.merge(orders[[P, "ts"]].rename(columns={"ts": "order_ts"}), on=P, how="left")
    joined["hit"] = (joined.order_ts > joined.ts) & (joined.order_ts <= joined.ts + window)
    converted = joined.groupby(P).hit.any()
    first["converted"] = first[P].map(converted).fillna(False).astype(bool)
    treated, control = first[~first.held], first[first.held]
    nt, xt = len(treated), int(treated.converted.sum())
    nc, xc = len(control), int(control.converted.sum())
    pt = xt / nt if nt else 0.0
    pc = xc / nc if nc else 0.0
    se = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc) if nt and nc else 0.0
    lift = pt - pc
    return {
        "campaign": campaign,
        "contacted": nt,
        "contacted_converted": xt,
        "held_out": nc,
        "held_out_converted": xc,
        "lift": lift,
        "low": lift - Z_95 * se,
        "high": lift + Z_95 * se,
        "incremental": lift * nt,
    }
