"""The store the audience benchmark counts over: N synthetic persons, ~300 tag values, ~25 tags
a person, skewed like a shop's (a few brands and cities hold most people), written once with
`commit_snapshot` and cached.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from store.db import make_engine
from store.errors import InputError
from store.runs import reads as run_reads
from store.snapshot.bulk import Batches
from store.snapshot.write import Snapshot, begin_run, commit_snapshot


@dataclass(frozen=True)
class Key:
    name: str
    values: list[str]
    scored: bool = False  # score = the value's share, as preference tags have
    skew: float = 0.0  # Zipf-like exponent of the values' popularity; 0 = uniform


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}_{i:03d}" for i in range(n)]


SINGLE_KEYS = [
    Key("gender", ["female", "male", "other"]),
    Key("age_band", ["under_18", "18_24", "25_34", "35_44", "45_54", "55_plus"], skew=0.5),
    Key("region", _names("region", 8), skew=0.6),
    Key("city", _names("city", 60), skew=1.0),
    Key("member_level", ["basic", "silver", "gold", "platinum"], skew=1.0),
    Key("occupation", _names("occupation", 12), skew=0.7),
    Key("rfm_segment", _names("segment", 8)),
    Key("lifecycle", ["new", "reactivated", "active", "churn_risk", "dormant", "lost", "prospect"]),
    Key("purchase_time_slot", ["morning", "afternoon", "evening", "night"], scored=True),
    Key("primary_device", ["ios", "android", "pc"], scored=True),
    Key("primary_channel", ["app", "web", "mini_program", "store"], scored=True),
    Key("aov_band", ["low", "mid", "high", "premium"]),
    Key("preferred_brand", _names("brand", 120), scored=True, skew=1.1),
    Key("value_segment", ["high_value_loyal", "potential_growth", "churn_warning", "new"]),
    Key("persona", _names("persona", 8)),
]
RFM_KEYS = ["rfm_r", "rfm_f", "rfm_m"]  # value 1..5, score = the value
CATEGORIES = Key("preferred_category", _names("category", 30), scored=True, skew=0.9)
CATEGORY_RANKS = 3
NUMBER_KEYS = ["recency_days", "frequency", "monetary"]  # buyers only
BUYER_SHARE = 0.7
CART_ABANDONER_SHARE = 0.3


def tag_values() -> int:
    """How many categorical values the store's catalog has (the benchmark reports it)."""
    singles = sum(len(k.values) for k in SINGLE_KEYS)
    return singles + 5 * len(RFM_KEYS) + len(CATEGORIES.values) + 1


def _popularity(key: Key) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(key.values) + 1) ** key.skew
    return np.asarray(weights / weights.sum())


def _frame(key: str, values: np.ndarray, persons: np.ndarray, score: Any) -> pd.DataFrame:
    frame = pd.DataFrame({"person_idx": persons, "key": key, "value": values, "score": score})
    return frame.sort_values(["value", "person_idx"], kind="stable")


def _tag_frames(n: int, seed: int) -> Iterator[pd.DataFrame]:
    """Each key's rows in (key, value, person_idx) order, keys in name order."""
    frames: dict[str, pd.DataFrame] = {}
    rng = np.random.default_rng(seed)
    everyone = np.arange(n)
    for key in SINGLE_KEYS:
        picks = rng.choice(len(key.values), size=n, p=_popularity(key))
        score = np.round(rng.uniform(0.3, 1.0, n), 4) if key.scored else None
        frames[key.name] = _frame(key.name, np.array(key.values)[picks], everyone, score)
    buyers = np.flatnonzero(rng.random(n) < BUYER_SHARE)
    for name in RFM_KEYS:
        scores = rng.integers(1, 6, len(buyers))
        frames[name] = _frame(name, scores.astype(str), buyers, scores.astype(float))
    numbers = {
        "recency_days": rng.integers(0, 720, len(buyers)).astype(float),
        "frequency": rng.geometric(0.3, len(buyers)).astype(float),
        "monetary": np.round(rng.lognormal(5.5, 1.0, len(buyers)), 2),
    }
    for name, values in numbers.items():
        frames[name] = _frame(name, np.char.mod("%g", values), buyers, values)
    ranks = [rng.choice(len(CATEGORIES.values), size=n, p=_popularity(CATEGORIES))]
    step = len(CATEGORIES.values) // CATEGORY_RANKS  # steps below 1/3 of the way round: distinct
    for _ in range(CATEGORY_RANKS - 1):
        ranks.append((ranks[-1] + rng.integers(1, step + 1, n)) % len(CATEGORIES.values))
    frames[CATEGORIES.name] = _frame(
        CATEGORIES.name,
        np.array(CATEGORIES.values)[np.concatenate(ranks)],
        np.tile(everyone, CATEGORY_RANKS),
        np.repeat([0.5, 0.3, 0.2], n),
    )
    abandoners = np.flatnonzero(rng.random(n) < CART_ABANDONER_SHARE)
    rates = np.round(rng.uniform(0.5, 1.0, len(abandoners)), 4)
    frames["cart_abandoner"] = _frame(
        "cart_abandoner", np.full(len(abandoners), "yes"), abandoners, rates
    )
    for name in sorted(frames):
        frame = frames.pop(name)
        for start in range(0, len(frame), 200_000):
            yield frame.iloc[start : start + 200_000]


def _definitions() -> list[dict[str, Any]]:
    keys = [(k.name, "category", k.values) for k in SINGLE_KEYS]
    keys += [(name, "score", ["1", "2", "3", "4", "5"]) for name in RFM_KEYS]
    keys += [(name, "number", []) for name in NUMBER_KEYS]
    keys += [(CATEGORIES.name, "category", CATEGORIES.values), ("cart_abandoner", "flag", ["yes"])]
    return [
        {
            "key": key,
            "kind": "behavioural",
            "description": key.replace("_", " "),
            "source": "built_in",
            "value_type": value_type,
            "values": values,
        }
        for key, value_type, values in sorted(keys)
    ]


def synthetic_snapshot(n: int, seed: int) -> Snapshot:
    tag_rows = sum(len(frame) for frame in _tag_frames(n, seed))
    idx = np.arange(n)
    return Snapshot(
        persons=pd.DataFrame(
            {"person_idx": idx, "person_id": [f"p{i:08d}" for i in idx], "attributes": [{}] * n}
        ),
        identifiers=pd.DataFrame(
            {"kind": "user_id", "identifier": [f"u{i}" for i in idx], "person_idx": idx}
        ),
        tags=Batches(count=tag_rows, read=lambda: _tag_frames(n, seed)),
        features=pd.DataFrame({"person_idx": [], "values": []}),
        definitions=_definitions(),
        quarantine=pd.DataFrame({"source": [], "row_number": [], "reason": [], "raw": []}),
        as_of=datetime(2026, 6, 30, tzinfo=UTC),
    )


def build_audience_store(path: Path, *, persons: int, seed: int, rebuild: bool) -> str:
    """The SQLite store at `path` with two committed runs of the same persons (tags drawn with
    `seed`, then `seed + 1`), written unless it already holds them."""
    url = f"sqlite:///{path}"
    if not rebuild and path.exists():
        try:
            engine = make_engine(url)
        except InputError:  # a store of the layout before tag store v2
            engine = None
        if engine is not None:
            try:
                with engine.connect() as connection:
                    if len(run_reads.last_runs(connection=connection, last=2)) >= 2:
                        return url
            finally:
                engine.dispose()
    for stale in path.parent.glob(f"{path.name}*"):  # the store and its -wal, -shm
        stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        for day, drawn in ((29, seed), (30, seed + 1)):
            as_of = datetime(2026, 6, day, tzinfo=UTC)
            run_id = begin_run(engine=engine, source="bench:audience", as_of=as_of, params={})
            snapshot = synthetic_snapshot(persons, drawn)
            started = time.perf_counter()
            commit_snapshot(engine=engine, run_id=run_id, snapshot=snapshot)
            WRITES.append(round(time.perf_counter() - started, 2))
    finally:
        engine.dispose()
    return url


WRITES: list[float] = []  # seconds each commit of this process took
