"""Small hand-made stores with exactly known contents, written through the real snapshot path.

`commit_run` writes any persons you describe; `SHOP` is the standard four-person shop the API
tests assert exact values against:

    person    user id  tags (besides age_band/gender)                          orders
    p-ann     u-1001   high_value, active, baby .5 outdoor .3 beauty .2, ...   12
    p-bob     u-1002   at_risk, churn_risk, outdoor .7 digital .3              2
    p-cy      u-1003   new                                                     none
    p-dee     u-1004   loyal, active, baby 1.0                                 5
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from store.snapshot.write import Snapshot, begin_run, commit_snapshot, fail_run

AS_OF = datetime(2026, 6, 30, tzinfo=UTC)


@dataclass(frozen=True)
class PersonSpec:
    person_id: str
    identifiers: dict[str, list[str]] = field(default_factory=dict)  # kind -> the shop's ids
    attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[tuple[str, str, float | None]] = field(default_factory=list)  # key, value, score
    features: dict[str, Any] | None = None


def definition(
    key: str,
    kind: str,
    values: list[str],
    *,
    value_type: str = "category",
    source: str = "built_in",
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind,
        "description": f"the {key.replace('_', ' ')} of a person",
        "source": source,
        "value_type": value_type,
        "values": values,
    }


DEFINITIONS = [
    definition("age_band", "demographic", ["18_24", "25_34", "35_44", "45_54", "55_plus"]),
    definition("gender", "demographic", ["female", "male", "unknown"]),
    definition("rfm_segment", "behavioural", ["high_value", "loyal", "at_risk", "hibernating"]),
    definition(
        "lifecycle",
        "behavioural",
        ["new", "active", "dormant", "churn_risk", "lost", "reactivated"],
    ),
    definition("preferred_category", "behavioural", ["baby", "outdoor", "beauty", "digital"]),
    definition("churn_risk", "predictive", ["low", "medium", "high"], value_type="score"),
    definition("bargain_hunter", "psychographic", ["yes"], value_type="flag", source="catalog"),
]

ANN = PersonSpec(
    person_id="p-ann",
    identifiers={"user_id": ["u-1001"], "device_id": ["d-ann-phone"]},
    attributes={
        "age": 31,
        "age_band": "25_34",
        "gender": "female",
        "city": "Hangzhou",
        "region": "east",
        "occupation": "engineer",
        "member_level": "gold",
        "registered_at": "2024-03-01 09:30:00",
    },
    tags=[
        ("age_band", "25_34", None),
        ("gender", "female", None),
        ("rfm_segment", "high_value", None),
        ("lifecycle", "active", None),
        ("preferred_category", "outdoor", 0.3),
        ("preferred_category", "baby", 0.5),
        ("preferred_category", "beauty", 0.2),
        ("churn_risk", "low", 0.12),
        ("bargain_hunter", "yes", None),
    ],
    features={
        "recency_days": 3,
        "frequency": 12,
        "monetary": 2345.5,
        "r_score": 5,
        "f_score": 5,
        "m_score": 4,
        "aov": 195.46,
    },
)
BOB = PersonSpec(
    person_id="p-bob",
    identifiers={"user_id": ["u-1002"]},
    attributes={"age": 45, "age_band": "45_54", "gender": "male", "city": None, "region": "north"},
    tags=[
        ("age_band", "45_54", None),
        ("gender", "male", None),
        ("rfm_segment", "at_risk", None),
        ("lifecycle", "churn_risk", None),
        ("preferred_category", "outdoor", 0.7),
        ("preferred_category", "digital", 0.3),
    ],
    features={
        "recency_days": 120,
        "frequency": 2,
        "monetary": 180.0,
        "r_score": 1,
        "f_score": 2,
        "m_score": 1,
    },
)
CY = PersonSpec(
    person_id="p-cy",
    identifiers={"user_id": ["u-1003"]},
    tags=[("lifecycle", "new", None)],
    features={"frequency": 0, "monetary": 0.0},
)
DEE = PersonSpec(
    person_id="p-dee",
    identifiers={"user_id": ["u-1004"]},
    attributes={"age_band": "25_34", "gender": "female"},
    tags=[
        ("age_band", "25_34", None),
        ("gender", "female", None),
        ("rfm_segment", "loyal", None),
        ("lifecycle", "active", None),
        ("preferred_category", "baby", 1.0),
    ],
    features={
        "recency_days": 10,
        "frequency": 5,
        "monetary": 600.0,
        "r_score": 4,
        "f_score": 3,
        "m_score": 3,
    },
)
SHOP = [ANN, BOB, CY, DEE]

QUALITY = {
    "users": {"read": 5, "kept": 4, "after_as_of": 0, "dropped": {"duplicate_user_id": 1}},
    "events": {
        "read": 100,
        "kept": 88,
        "after_as_of": 2,
        "dropped": {"bot": 7, "duplicate_event_id": 3},
    },
    "models": {"churn_auc": 0.81},
}
TIMINGS = {"ingest": 0.5, "clean": 0.25, "tags": 1.0}


def snapshot(
    persons: list[PersonSpec],
    *,
    definitions: list[dict[str, Any]],
    quality: dict[str, Any],
    timings: dict[str, float],
    personas: pd.DataFrame | None = None,
) -> Snapshot:
    """The snapshot of a run holding `persons`, numbered in list order."""
    numbered = list(enumerate(persons))
    return Snapshot(
        persons=pd.DataFrame(
            [
                {"person_idx": i, "person_id": p.person_id, "attributes": p.attributes}
                for i, p in numbered
            ],
            columns=["person_idx", "person_id", "attributes"],
        ),
        identifiers=pd.DataFrame(
            [
                {"kind": kind, "identifier": identifier, "person_idx": i}
                for i, p in numbered
                for kind, identifiers in p.identifiers.items()
                for identifier in identifiers
            ],
            columns=["kind", "identifier", "person_idx"],
        ),
        tags=pd.DataFrame(
            [
                {"person_idx": i, "key": key, "value": value, "score": score}
                for i, p in numbered
                for key, value, score in p.tags
            ],
            columns=["person_idx", "key", "value", "score"],
        ),
        features=pd.DataFrame(
            [{"person_idx": i, "values": p.features} for i, p in numbered if p.features],
            columns=["person_idx", "values"],
        ),
        definitions=definitions,
        quarantine=pd.DataFrame(columns=["source", "row_number", "reason", "raw"]),
        quality=quality,
        timings=timings,
        personas=pd.DataFrame() if personas is None else personas,
    )


def commit_run(
    engine: Engine,
    persons: list[PersonSpec],
    *,
    definitions: list[dict[str, Any]] | None = None,
    quality: dict[str, Any] | None = None,
    timings: dict[str, float] | None = None,
    as_of: datetime = AS_OF,
    source: str = "tests/shop",
    params: dict[str, Any] | None = None,
    personas: pd.DataFrame | None = None,
    keep_runs: int = 30,
) -> int:
    """Write one committed run holding exactly `persons`; returns its id."""
    run_id = begin_run(engine=engine, source=source, as_of=as_of, params=params or {})
    commit_snapshot(
        engine=engine,
        run_id=run_id,
        snapshot=snapshot(
            persons,
            definitions=DEFINITIONS if definitions is None else definitions,
            quality=quality or {},
            timings=timings or {},
            personas=personas,
        ),
        keep_runs=keep_runs,
    )
    return run_id


def commit_shop(engine: Engine) -> int:
    """The standard four-person shop, with its quality report and timings."""
    return commit_run(
        engine, SHOP, quality=QUALITY, timings=TIMINGS, params={"seed": 7, "catalog": None}
    )


def failed_run(engine: Engine, *, error: str, as_of: datetime = AS_OF) -> int:
    """A run that started and failed; it never becomes current."""
    run_id = begin_run(engine=engine, source="tests/broken", as_of=as_of, params={})
    fail_run(engine=engine, run_id=run_id, error=error)
    return run_id


# Six buyers of one order each, 10 to 60 apart in money and days: each R, F, M score known by
# hand (the live ranking tests move them with one order).
SIX_BUYERS_ORDERS = """
order_id,user_id,ts,amount
o1,u1,2026-06-01T10:00:00Z,10
o2,u2,2026-06-05T10:00:00Z,20
o3,u3,2026-06-10T10:00:00Z,30
o4,u4,2026-06-15T10:00:00Z,40
o5,u5,2026-06-20T10:00:00Z,50
o6,u6,2026-06-30T10:00:00Z,60
"""


# The basket shop, small enough to count by hand (tests/tagging/test_basket.py does).
# Items: A and B are baby, C toys, D food, E pets.
#     u1: o1 A B C, o2 A B        u2: o3 A C, o4 B C
#     u3: o5 A B D                u4: o6 D, o7 E, o8 A
BASKET_ORDERS = """
order_id,user_id,ts,amount
o1,u1,2026-06-01T10:00:00Z,30
o2,u1,2026-06-02T10:00:00Z,20
o3,u2,2026-06-03T10:00:00Z,20
o4,u2,2026-06-04T10:00:00Z,20
o5,u3,2026-06-05T10:00:00Z,30
o6,u4,2026-06-06T10:00:00Z,10
o7,u4,2026-06-07T10:00:00Z,10
o8,u4,2026-06-08T10:00:00Z,10
"""
BASKETS = {
    "o1": "ABC",
    "o2": "AB",
    "o3": "AC",
    "o4": "BC",
    "o5": "ABD",
    "o6": "D",
    "o7": "E",
    "o8": "A",
}
BASKET_ORDER_ITEMS = "order_id,item_id,quantity,price\n" + "\n".join(
    f"{order},{item},1,10" for order, items in BASKETS.items() for item in items
)
BASKET_PRODUCTS = """
item_id,name,category
A,Formula,baby
B,Diapers,baby
C,Rattle,toys
D,Rice,food
E,Cat food,pets
"""


def bgnbd_buyers(
    buyers: int, *, r: float, alpha: float, a: float, b: float, days: float, seed: int
) -> pd.DataFrame:
    """Buyers drawn from the BG/NBD process (Fader, Hardie & Lee 2005), days as the time unit.

    Each buyer's rate is Gamma(r, scale 1/alpha), their chance of dropping out after each
    repeat purchase Beta(a, b); purchases while alive are a Poisson process, and a buyer can
    drop out only right after a repeat purchase (never right after the first, which is at a
    uniform day of [0, days)).

    Returns one row per purchase: buyer (0..buyers-1) and day (float, days since the start).
    """
    rng = np.random.default_rng(seed)
    rates = rng.gamma(r, 1 / alpha, buyers)
    dropout = rng.beta(a, b, buyers)
    firsts = rng.uniform(0, days, buyers)
    rows: list[tuple[int, float]] = []
    for buyer in range(buyers):
        t = firsts[buyer]
        rows.append((buyer, t))
        while True:
            t += rng.exponential(1 / rates[buyer])
            if t >= days:
                break
            rows.append((buyer, t))
            if rng.random() < dropout[buyer]:  # drops out after this repeat purchase
                break
    return pd.DataFrame(rows, columns=["buyer", "day"])


def bgnbd_orders(buyers: pd.DataFrame, *, start: datetime, seed: int) -> pd.DataFrame:
    """`bgnbd_buyers`' purchases as the rows of an orders.csv: order_id, user_id, ts, amount."""
    rng = np.random.default_rng(seed)
    ts = start + pd.to_timedelta(buyers["day"].to_numpy(), unit="D")
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(buyers))],
            "user_id": [f"u{b}" for b in buyers["buyer"]],
            "ts": ts.floor("s").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "amount": np.round(rng.lognormal(3.5, 0.6, len(buyers)), 2),
        }
    )


def write_basket_shop(folder: Path) -> Path:
    """The hand-counted basket shop's files (orders, order items, products) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("orders", BASKET_ORDERS),
        ("order_items", BASKET_ORDER_ITEMS),
        ("products", BASKET_PRODUCTS),
    ):
        (folder / f"{name}.csv").write_text(text.strip() + "\n")
    return folder


# The merge shop (tests/tagging/test_live_merges.py, tests/api/test_live_merges.py).
# A: user u5 on device d5, two orders. B: device d9 alone, carted two pet items (so a cart
# abandoner). C: user u2 on device d2, one order. u7 and u8: one order each.
MERGE_ORDERS = """
order_id,user_id,ts,amount
o1,u5,2026-06-01T10:00:00Z,10
o2,u5,2026-06-10T10:00:00Z,20
o3,u2,2026-06-20T10:00:00Z,30
o4,u7,2026-06-25T10:00:00Z,40
o5,u8,2026-06-28T10:00:00Z,50
"""
MERGE_ORDER_ITEMS = """
order_id,item_id,quantity,price,category
o1,X,1,10,toys
o2,Y,1,20,baby
o3,Z,1,30,food
o4,X,1,40,toys
o5,Y,1,50,baby
"""
MERGE_EVENTS = """
event_id,user_id,device_id,event_type,ts,item_id,category
e1,u5,d5,view,2026-06-01T09:00:00Z,X,toys
e2,,d9,add_to_cart,2026-06-15T09:00:00Z,P,pets
e3,,d9,add_to_cart,2026-06-15T09:01:00Z,Q,pets
e4,u2,d2,view,2026-06-20T09:00:00Z,Z,food
"""
# Step 1: u5 logs in on d9 (A and B: A holds the only user id, A is kept). Step 2: u2 on d5
# (A, with B, and C: u2 is the smallest user id of them all, C is kept).
LINK_AB = {"event_id": "l1", "user_id": "u5", "device_id": "d9", "event_type": "view",
           "ts": "2026-06-30T12:00:00Z", "item_id": "X", "category": "toys"}  # fmt: skip
LINK_AC = {"event_id": "l2", "user_id": "u2", "device_id": "d5", "event_type": "view",
           "ts": "2026-06-30T13:00:00Z", "item_id": "Z", "category": "food"}  # fmt: skip


def write_merge_shop(folder: Path) -> Path:
    """The merge shop's files, as CSV in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("orders", MERGE_ORDERS),
        ("order_items", MERGE_ORDER_ITEMS),
        ("events", MERGE_EVENTS),
    ):
        (folder / f"{name}.csv").write_text(text.strip() + "\n")
    return folder
