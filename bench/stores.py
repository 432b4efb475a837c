"""The stores the API benchmark serves: synthetic (written with commit_snapshot) or generated
(`portrait generate` + `portrait run`), each built once and cached.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from store.audiences.index import load_index
from store.db import make_engine
from store.errors import InputError
from store.profiles import reads as profile_reads
from store.profiles.pseudonym import person_id_for
from store.runs import reads as run_reads
from store.snapshot.write import Snapshot, begin_run, commit_snapshot


def portrait_command() -> str:
    """The `portrait` console script of this virtualenv."""
    beside_python = Path(sys.executable).with_name("portrait")
    found = str(beside_python) if beside_python.exists() else shutil.which("portrait")
    if found is None:
        raise SystemExit("the `portrait` command is not installed: pip install -e .")
    return found


CATEGORIES = ["baby", "outdoor", "beauty", "digital", "home", "food", "books", "sports"]
BRANDS = [f"brand_{i:02d}" for i in range(40)]
CHOICES: dict[str, tuple[str, list[str]]] = {
    "gender": ("demographic", ["female", "male", "unknown"]),
    "region": ("demographic", ["east", "north", "south", "west", "central"]),
    "member_level": ("demographic", ["basic", "silver", "gold", "platinum"]),
    "rfm_segment": ("behavioural", ["high_value", "loyal", "potential", "at_risk", "hibernating"]),
    "lifecycle": ("behavioural", ["new", "active", "dormant", "churn_risk", "lost", "reactivated"]),
    "preferred_brand": ("behavioural", BRANDS),
    "purchase_time_slot": ("behavioural", ["morning", "afternoon", "evening", "night"]),
    "primary_device": ("behavioural", ["ios", "android", "pc"]),
    "primary_channel": ("behavioural", ["app", "web", "mini_program"]),
    "aov_band": ("behavioural", ["low", "mid", "high"]),
    "cart_abandoner": ("behavioural", ["yes", "no"]),
}
AGE_BANDS = ["18_24", "25_34", "35_44", "45_54", "55_plus"]


def synthetic_snapshot(persons: int, seed: int) -> Snapshot:
    """A run of `persons` persons with ~18 tags each, shaped like a real tagging run's output."""
    rng = np.random.default_rng(seed)
    idx = np.arange(persons)
    age = rng.integers(18, 70, persons)
    age_band = np.array(AGE_BANDS)[np.digitize(age, [25, 35, 45, 55])]
    picks = {
        key: np.array(values)[rng.integers(0, len(values), persons)]
        for key, (_, values) in CHOICES.items()
    }
    person_ids = [person_id_for(f"user_id:u{i}", key="bench") for i in idx]
    attributes = [
        {
            "age": int(a),
            "age_band": str(b),
            "gender": str(g),
            "region": str(r),
            "city": f"city_{i % 50}",
            "member_level": str(m),
            "registered_at": "2023-05-01T08:00:00",
        }
        for i, a, b, g, r, m in zip(
            idx, age, age_band, picks["gender"], picks["region"], picks["member_level"], strict=True
        )
    ]
    frames = [_tag_frame(idx, "age_band", age_band)]
    frames += [_tag_frame(idx, key, values) for key, values in picks.items()]
    frames += [_rfm_frame(idx, rng, key) for key in ("rfm_r", "rfm_f", "rfm_m")]
    for rank, share in enumerate((0.5, 0.3, 0.2)):
        category = np.array(CATEGORIES)[(idx + rank * 3 + rng.integers(0, 2, persons)) % 8]
        frames.append(_tag_frame(idx, "preferred_category", category, score=share))
    tags = pd.concat(frames, ignore_index=True).drop_duplicates(["person_idx", "key", "value"])
    features = [
        {
            "recency_days": float(r),
            "frequency": int(f),
            "monetary": round(float(f) * 87.5, 2),
            "r_score": int(r % 5) + 1,
            "f_score": int(f % 5) + 1,
            "m_score": int(f % 4) + 1,
        }
        for r, f in zip(rng.integers(0, 365, persons), rng.integers(1, 30, persons), strict=True)
    ]
    return Snapshot(
        persons=pd.DataFrame(
            {"person_idx": idx, "person_id": person_ids, "attributes": attributes}
        ),
        identifiers=pd.DataFrame(
            {"kind": "user_id", "identifier": [f"u{i}" for i in idx], "person_idx": idx}
        ),
        tags=tags,
        features=pd.DataFrame({"person_idx": idx, "values": features}),
        definitions=_definitions(),
        quarantine=pd.DataFrame({"source": [], "row_number": [], "reason": [], "raw": []}),
        as_of=datetime(2026, 6, 30, tzinfo=UTC),
    )


def _tag_frame(
    idx: np.ndarray, key: str, values: np.ndarray, score: float | None = None
) -> pd.DataFrame:
    return pd.DataFrame({"person_idx": idx, "key": key, "value": values, "score": score})


def _rfm_frame(idx: np.ndarray, rng: np.random.Generator, key: str) -> pd.DataFrame:
    return _tag_frame(idx, key, rng.integers(1, 6, len(idx)).astype(str))


def _definitions() -> list[dict[str, Any]]:
    choices = {
        **CHOICES,
        "age_band": ("demographic", AGE_BANDS),
        "preferred_category": ("behavioural", CATEGORIES),
    }
    choices.update(
        {key: ("behavioural", ["1", "2", "3", "4", "5"]) for key in ("rfm_r", "rfm_f", "rfm_m")}
    )
    return [
        {
            "key": key,
            "kind": kind,
            "description": key.replace("_", " "),
            "source": "built_in",
            "value_type": "category",
            "values": values,
        }
        for key, (kind, values) in sorted(choices.items())
    ]


def build_synthetic_store(path: Path, *, persons: int, seed: int, rebuild: bool) -> str:
    url = f"sqlite:///{path}"
    if not rebuild and path.exists() and not _has_committed_run(url):
        rebuild = True
    if rebuild or not _has_committed_run(url):
        for stale in path.parent.glob(f"{path.name}*"):  # the store and its -wal, -shm
            stale.unlink()
        engine = make_engine(url)
        as_of = datetime(2026, 6, 30, tzinfo=UTC)
        run_id = begin_run(engine=engine, source="bench:synthetic", as_of=as_of, params={})
        commit_snapshot(engine=engine, run_id=run_id, snapshot=synthetic_snapshot(persons, seed))
        engine.dispose()
    return url


def build_generated_store(directory: Path, *, users: int, seed: int, rebuild: bool) -> str:
    """`portrait generate` then `portrait run` into a store of their own, once per size/seed."""
    url = f"sqlite:///{directory / 'store.db'}"
    if rebuild:
        shutil.rmtree(directory, ignore_errors=True)
    elif _has_committed_run(url):
        return url
    else:
        shutil.rmtree(directory, ignore_errors=True)  # a store of an earlier layout, say
    directory.mkdir(parents=True, exist_ok=True)
    shop = directory / "shop"
    env = {**os.environ, "PORTRAIT_DATABASE_URL": url}
    portrait = portrait_command()
    for command in (
        [portrait, "generate", "--users", str(users), "--seed", str(seed), "--out", str(shop)],
        [portrait, "run", "--source", str(shop)],
    ):
        subprocess.run(command, env=env, check=True, stdout=sys.stderr)
    return url


def _has_committed_run(url: str) -> bool:
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False
    try:
        engine = make_engine(url)
    except InputError:  # a store of the layout before tag store v2: built again
        return False
    try:
        with engine.connect() as connection:
            return run_reads.current_run(connection=connection) is not None
    finally:
        engine.dispose()


def analyze_store(url: str) -> None:
    """Give SQLite's planner statistics (ANALYZE), as the store should after each commit.

    Without them SQLite reads one person's tags by scanning the run's whole clustered primary
    key (~80 ms at 100,000 persons) instead of using the person index (~0.06 ms).
    """
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def sample_person_ids(url: str, *, n: int, seed: int) -> tuple[int, int, list[str]]:
    """(run id, persons in the run, `n` random person ids of the current run)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            run = run_reads.kept_run(connection=connection, run_id=None)
            everyone = load_index(connection=connection, run_id=run.id).everyone
            numbers = random.Random(seed).sample(list(everyone), min(n, len(everyone)))
            rows = profile_reads.persons_by_idx(
                connection=connection, run_id=run.id, person_idxs=numbers
            )
            return run.id, run.persons, [row.person_id for row in rows]
    finally:
        engine.dispose()
