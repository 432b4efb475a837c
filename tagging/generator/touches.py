"""Marketing touches with a planted truth (`generate_shop(..., marketing=True)`).

Drawn from a random stream of their own, so that the shop's other files stay the same for a
seed. Over the last `PERIOD_DAYS` days of the window:

- Always-on channels reach lapsed customers (no order in the last 200 days, so none would
  order by themselves) at random, independently of anything about them: each channel reaches a
  person with its probability and touches them a few times. A reached set of channels S makes
  the person order with probability 1 - prod(1 - effect) over S (a noisy OR), decided by one
  uniform draw u per person: they order when u < p(S), after their last touch.
- `winback_push` is one of those channels, sent as a campaign to a random part of the lapsed
  customers, with a random holdout (`holdout` touches: in the campaign, not contacted).
- `vip_sms` goes to the recently active buyers, who order anyway, with a random holdout; it
  changes nothing (its effect is 0), so their orders in the period are the shop's own.

truth/attribution.json holds each channel's true share of the caused orders: with u fixed, the
orders lost when the channel is removed from everyone's set, scaled to sum to 1 over the
channels; and each campaign's true lift: the contacted persons' rate with the campaign minus
their rate without it, from the same draws (and the planted expectation). truth/quality.json
counts the shop's own rows: the caused orders (`orders_caused`) come on top of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from tagging.generator.columns import id_text, money, write_table
from tagging.generator.sampling import DAY, LAPSED, Window

Arr = np.ndarray
STREAM = 25  # the touches' random stream: SeedSequence([seed, STREAM])
PERIOD_DAYS = 30
# channel: (reach among lapsed customers, effect on the chance to order, touch kind, cost)
CHANNELS: dict[str, tuple[float, float, str, float]] = {
    "display": (0.10, 0.15, "impression", 0.02),
    "search": (0.07, 0.40, "click", 0.60),
    "email": (0.12, 0.25, "open", 0.01),
    "social": (0.08, 0.20, "impression", 0.03),
    "push": (0.10, 0.30, "send", 0.005),
}
WINBACK = "winback_push"  # the campaign behind channel push (its reach includes its holdout)
VIP = "vip_sms"
HOLDOUT_SHARE = 0.2
ACTIVE_DAYS = 60  # vip_sms: persons who ordered in the 60 days before the period


@dataclass(frozen=True)
class Marketing:
    touches: pa.Table  # user_id, ts, channel, campaign, kind, cost
    orders: pa.Table  # the caused orders, in orders.csv's columns
    truth: dict[str, Any]


def marketing(
    seed: int, persona: Arr, order_person: Arr, order_ts: Arr, user_id: pa.Array, win: Window
) -> Marketing:
    """Touches, the orders they caused and the truth, for the persons of the shop."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, STREAM]))
    start = win.end_s + 1 - PERIOD_DAYS * DAY
    lapsed = np.flatnonzero(LAPSED[persona])
    names = list(CHANNELS)
    reach = np.array([CHANNELS[c][0] for c in names])
    effect = np.array([CHANNELS[c][1] for c in names])
    reached = rng.random((len(lapsed), len(names))) < reach
    push = names.index("push")
    # The campaign's reach includes its holdout: they are in it, but not contacted.
    held = reached[:, push] & (rng.random(len(lapsed)) < HOLDOUT_SHARE)
    contacted = reached.copy()
    contacted[:, push] &= ~held
    miss = np.where(contacted, 1.0 - effect, 1.0)
    u = rng.random(len(lapsed))
    ordered = u < 1.0 - miss.prod(axis=1)
    rows = _touch_rows(rng, lapsed, contacted, held, names, start, win.end_s - 3 * DAY)
    last = np.full(len(lapsed), start)
    np.maximum.at(last, rows["at"], rows["ts"])
    buyer = np.flatnonzero(ordered)
    ts = np.minimum(
        last[buyer] + rng.exponential(2 * DAY, len(buyer)).astype(np.int64) + 60, win.end_s
    )
    cents = rng.integers(3_000, 30_000, len(buyer))
    vip = _vip(rng, persona, order_person, order_ts, start)
    truth = _truth(names, effect, reach, contacted, u, ordered, held)
    truth["campaigns"][VIP] = {
        "planted_lift": 0.0,
        "true_lift": 0.0,
        "contacted": int((~vip["held"]).sum()),
    }
    touches = _touch_table(rows, lapsed, vip, names, user_id)
    orders = pa.table(
        {
            "order_id": id_text("OM", np.arange(len(buyer)), 9),
            "user_id": user_id.take(pa.array(lapsed[buyer])),
            "ts": pa.array((ts * 1000).astype("datetime64[ms]")).cast(pa.string()),
            "amount": money(cents),
            "coupon_code": pa.nulls(len(buyer), pa.string()),
            "discount": money(np.zeros(len(buyer), dtype=np.int64)),
            "pay_method": pa.array(["alipay"] * len(buyer)),
            "channel": pa.nulls(len(buyer), pa.string()),
        }
    )
    return Marketing(touches, orders, truth)


def _touch_rows(
    rng: np.random.Generator,
    lapsed: Arr,
    contacted: Arr,
    held: Arr,
    names: list[str],
    start: int,
    stop: int,
) -> dict[str, Arr]:
    """One row per touch: `at` (index into lapsed), channel index, ts, holdout flag."""
    person, channel = np.nonzero(contacted)
    times = 1 + rng.poisson(0.8, len(person))
    person, channel = np.repeat(person, times), np.repeat(channel, times)
    holdout = np.flatnonzero(held)
    push = names.index("push")
    at = np.concatenate([person, holdout])
    chan = np.concatenate([channel, np.full(len(holdout), push)])
    ts = rng.integers(start, stop, len(at))
    return {"at": at, "channel": chan, "ts": ts, "holdout": np.arange(len(at)) >= len(person)}


def _vip(
    rng: np.random.Generator, persona: Arr, order_person: Arr, order_ts: Arr, start: int
) -> dict[str, Arr]:
    recent = (order_ts >= start - ACTIVE_DAYS * DAY) & (order_ts < start)
    person = np.unique(order_person[recent])
    person = person[~LAPSED[persona[person]]]
    return {
        "person": person,
        "held": rng.random(len(person)) < HOLDOUT_SHARE,
        "ts": start + rng.integers(0, 2 * DAY, len(person)),
    }


def _touch_table(
    rows: dict[str, Arr], lapsed: Arr, vip: dict[str, Arr], names: list[str], user_id: pa.Array
) -> pa.Table:
    person = np.concatenate([lapsed[rows["at"]], vip["person"]])
    channel = np.array(names)[rows["channel"]]
    kind = np.array([CHANNELS[c][2] for c in names])[rows["channel"]]
    kind = np.where(rows["holdout"], "holdout", kind)
    cost = np.where(
        rows["holdout"], 0.0, np.array([CHANNELS[c][3] for c in names])[rows["channel"]]
    )
    campaign = np.where(channel == "push", WINBACK, np.char.add(channel.astype(str), "_always_on"))
    n_vip = len(vip["person"])
    ts = np.concatenate([rows["ts"], vip["ts"]])
    order = np.argsort(ts, kind="stable")
    return pa.table(
        {
            "user_id": user_id.take(pa.array(person[order])),
            "ts": pa.array((ts[order] * 1000).astype("datetime64[ms]")).cast(pa.string()),
            "channel": pa.array(np.concatenate([channel, np.full(n_vip, "sms")])[order]),
            "campaign": pa.array(np.concatenate([campaign, np.full(n_vip, VIP)])[order]),
            "kind": pa.array(
                np.concatenate([kind, np.where(vip["held"], "holdout", "send")])[order]
            ),
            "cost": pa.array(
                np.round(np.concatenate([cost, np.where(vip["held"], 0.0, 0.05)])[order], 4)
            ),
        }
    )


def _truth(
    names: list[str], effect: Arr, reach: Arr, contacted: Arr, u: Arr, ordered: Arr, held: Arr
) -> dict[str, Any]:
    lost = {}
    for i, name in enumerate(names):
        without = contacted.copy()
        without[:, i] = False
        still = u < 1.0 - np.where(without, 1.0 - effect, 1.0).prod(axis=1)
        lost[name] = int(ordered.sum() - still.sum())
    total = sum(lost.values())
    push = names.index("push")
    got = contacted[:, push]
    others = contacted.copy()
    others[:, push] = False
    rest = np.where(others, 1.0 - effect, 1.0).prod(axis=1)
    without_push = u < 1.0 - rest
    true_lift = float((ordered[got].sum() - without_push[got].sum()) / max(got.sum(), 1))
    planted = float((rest[got] * effect[push]).mean()) if got.any() else 0.0
    return {
        "period_days": PERIOD_DAYS,
        "orders_caused": int(ordered.sum()),
        "channels": {
            name: {
                "reach": float(reach[i]),
                "effect": float(effect[i]),
                "orders_lost_without": lost[name],
                "true_share": lost[name] / total if total else 0.0,
            }
            for i, name in enumerate(names)
        },
        "campaigns": {
            WINBACK: {
                "planted_lift": planted,
                "true_lift": true_lift,
                "contacted": int(got.sum()),
                "held_out": int(held.sum()),
            }
        },
    }


# The shop's orders carry their device's platform as channel and persona-drawn coupons: neither
# is a marketing touch of this world, so the shop's settings say so.
SHOP_SETTINGS = """[attribution]
# orders.channel is the device's platform and coupons come with the persona: no touches.
order_touches = []
"""


def write_marketing(out: Path, found: Marketing) -> None:
    """touches.csv, the caused orders appended to orders.csv, truth/attribution.json, and
    shop.toml's [attribution] settings."""
    write_table(out / "touches.csv", found.touches)
    with (out / "orders.csv").open("ab") as file:
        pa_csv.write_csv(found.orders, file, pa_csv.WriteOptions(include_header=False))
    text = json.dumps(found.truth, indent=2, sort_keys=True) + "\n"
    (out / "truth" / "attribution.json").write_text(text)
    (out / "shop.toml").write_text(SHOP_SETTINGS)
