"""The engine against the generator's planted truth: bots, identities, dirt and personas."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from store import basket as basket_queries
from store.db import make_engine
from store.models import PersonIdentifier, Profile
from store.profiles.export import export_tags
from store.runs import quarantine
from tagging.generator import generate_shop
from tagging.run import RunOptions, RunResult, run_tagging
from tests.tagging.conftest import ID_KEY

USERS = 3_000


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("truth") / "shop"
    generate_shop(folder, users=USERS, seed=11)
    return folder


@pytest.fixture(scope="module")
def tagged(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, RunResult]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'portrait.db'}")
    return engine, run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))


@pytest.fixture(scope="module")
def tags(tagged: tuple[Engine, RunResult]) -> pd.DataFrame:
    engine, result = tagged
    return export_tags(engine=engine, run_id=result.run_id)


@pytest.fixture(scope="module")
def personas(shop: Path) -> pd.DataFrame:
    return pd.read_csv(shop / "truth" / "persons.csv", dtype=str)


def _quarantined(engine: Engine, run_id: int, source: str) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = quarantine.rows(connection=connection, run_id=run_id)
    return rows[rows.source == source][["row_number", "reason"]].reset_index(drop=True)


def test_bot_filter_catches_planted_bots_and_spares_people(shop: Path, tagged) -> None:
    engine, result = tagged
    events = pd.read_csv(shop / "events.csv", dtype=str, keep_default_na=False)
    events["row_number"] = range(1, len(events) + 1)
    bots = set(pd.read_csv(shop / "truth" / "bots.csv", dtype=str).device_id)
    planted = events.device_id.isin(bots)
    flagged_rows = _quarantined(engine, result.run_id, "events")
    flagged = events.row_number.isin(
        flagged_rows[flagged_rows.reason.str.startswith("bot_")].row_number
    )
    caught = (planted & flagged).sum() / planted.sum()
    humans_removed = (~planted & flagged).sum() / (~planted).sum()
    assert planted.sum() / len(events) >= 0.02
    assert caught >= 0.95, f"caught {caught:.3%} of bot events"
    assert humans_removed < 0.01, f"removed {humans_removed:.3%} of human events"


def test_planted_dirt_is_quarantined_with_the_planted_reasons(shop: Path, tagged) -> None:
    _, result = tagged
    planted = json.loads((shop / "truth" / "quality.json").read_text())
    q = result.quality
    assert q["events"]["dropped"]["duplicate_event_id"] == planted["events"]["duplicate"]
    assert q["events"]["dropped"]["bad_timestamp"] == planted["events"]["bad_timestamp"]
    assert q["events"]["dropped"]["missing_event_type"] == planted["events"]["missing_event_type"]
    assert q["events"]["dropped"]["missing_identity"] == planted["events"]["missing_identity"]
    for reason in ("negative_amount", "bad_timestamp", "missing_order_id"):
        assert q["orders"]["dropped"][reason] == planted["orders"][reason], reason
    # Orders of buyers users.csv does not list are kept, and counted.
    assert "unknown_user" not in q["orders"]["dropped"]
    assert q["orders"]["users_not_listed"] == planted["orders"]["unknown_user"]
    for reason in ("unknown_order", "bad_quantity"):
        assert q["order_items"]["dropped"][reason] == planted["order_items"][reason], reason
    for source, report in q.items():
        assert report["read"] == planted[source]["rows"], source
        accounted = report["kept"] + report["after_as_of"] + sum(report["dropped"].values())
        assert accounted == report["read"], source


def test_identities_are_unified_as_planted(shop: Path, tagged) -> None:
    engine, result = tagged
    truth = pd.read_csv(shop / "truth" / "identifiers.csv", dtype=str)
    truth = truth[truth.kind.isin(["user_id", "device_id"])]
    with Session(engine) as session:
        found = pd.DataFrame(
            session.exec(
                select(
                    PersonIdentifier.kind, PersonIdentifier.identifier, PersonIdentifier.person_idx
                )
                .join(Profile, col(Profile.person_idx) == col(PersonIdentifier.person_idx))
                .where(Profile.run_id == result.run_id)
            ).all(),
            columns=["kind", "identifier", "person_idx"],
        )
    joined = truth.merge(found, on=["kind", "identifier"], how="left")
    ours_per_true = joined.groupby("person_key").person_idx.agg(lambda s: frozenset(s.dropna()))
    true_per_ours = joined.dropna(subset=["person_idx"]).groupby("person_idx").person_key.nunique()
    exact = sum(len(ours) == 1 and true_per_ours[next(iter(ours))] == 1 for ours in ours_per_true)
    assert exact / len(ours_per_true) >= 0.99, f"{exact} of {len(ours_per_true)} exact"


def _share(
    tags: pd.DataFrame, personas: pd.DataFrame, persona: str, key: str, values: set[str]
) -> float:
    users = set(personas[personas.persona == persona].primary_user_id)
    mine = tags[tags.user_id.isin(users) & (tags.key == key)]
    hits = mine[mine.value.isin(values)].user_id.nunique()
    return hits / len(users)


@pytest.mark.parametrize(
    ("persona", "key", "values", "at_least"),
    [
        ("young_parent", "preferred_category", {"baby"}, 0.95),
        ("young_parent", "purchase_time_slot", {"evening"}, 0.9),
        ("young_parent", "age_band", {"25_34"}, 0.99),
        ("outdoor_enthusiast", "preferred_category", {"outdoor", "sports"}, 0.95),
        ("night_impulse", "purchase_time_slot", {"night"}, 0.9),
        ("night_impulse", "cart_abandoner", {"yes"}, 0.6),
        ("brand_loyal_high_value", "rfm_m", {"4", "5"}, 0.8),
        ("brand_loyal_high_value", "member_level", {"gold", "platinum"}, 0.99),
        ("bargain_hunter", "aov_band", {"low", "mid"}, 0.9),
        ("lapsed", "lifecycle", {"dormant", "lost"}, 0.95),
    ],
)
def test_planted_behaviour_shows_in_tags(
    tags: pd.DataFrame,
    personas: pd.DataFrame,
    persona: str,
    key: str,
    values: set[str],
    at_least: float,
) -> None:
    share = _share(tags, personas, persona, key, values)
    assert share >= at_least, f"{persona}: {share:.1%} have {key} in {sorted(values)}"


def test_age_band_follows_true_age(tags: pd.DataFrame, personas: pd.DataFrame) -> None:
    bands = tags[tags.key == "age_band"].set_index("user_id").value
    ages = personas.set_index("primary_user_id").age.astype(int)
    edges = [(18, "under_18"), (25, "18_24"), (35, "25_34"), (45, "35_44"), (55, "45_54")]
    expected = ages.map(lambda a: next((band for edge, band in edges if a < edge), "55_plus"))
    assert bands.reindex(expected.index).equals(expected)


def test_every_planted_basket_rule_is_found_with_its_lift(shop: Path, tagged) -> None:
    engine, result = tagged
    planted = pd.read_csv(shop / "truth" / "rules.csv", dtype={"antecedent_item": str})
    with engine.connect() as connection:
        rules = basket_queries.rules(connection=connection, run_id=result.run_id, level="item")
    lift = {(tuple(r.antecedents), tuple(r.consequents)): r.lift for r in rules}
    assert len(planted) >= 4
    for rule in planted.itertuples():
        found = lift.get(((rule.antecedent_item,), (rule.consequent_item,)))
        assert found is not None, f"{rule.antecedent_item} -> {rule.consequent_item} not mined"
        assert found == pytest.approx(rule.planted_lift, rel=0.10), rule


def _scores(tags: pd.DataFrame, personas: pd.DataFrame, key: str) -> pd.DataFrame:
    """Each person's score of `key` with their planted persona (persons without one dropped)."""
    scored = tags[tags.key == key][["user_id", "score"]]
    truth = personas[["primary_user_id", "persona"]].rename(columns={"primary_user_id": "user_id"})
    return scored.merge(truth, on="user_id")


@pytest.mark.parametrize(
    ("persona", "key"),
    [
        ("bargain_hunter", "price_sensitivity"),
        ("bargain_hunter", "promo_affinity"),
        ("brand_loyal_high_value", "brand_loyalty"),
        ("lapsed", "churn_risk"),
    ],
)
def test_a_planted_persona_scores_above_everyone_elses_median(
    tags: pd.DataFrame, personas: pd.DataFrame, persona: str, key: str
) -> None:
    scores = _scores(tags, personas, key)
    mine = scores[scores.persona == persona].score
    others = scores[scores.persona != persona].score
    assert len(mine) >= 100 and len(others) >= 100
    # Most of the persona sits above the median of everyone else.
    assert (mine > others.median()).mean() >= 0.8, (mine.describe(), others.describe())


def test_churn_model_earns_its_place_on_held_out_buyers(tagged) -> None:
    _, result = tagged
    churn = result.reports["models"]["churn_risk"]
    assert churn["auc"] >= 0.85
    assert churn["auc"] > churn["baseline_auc"]
    repurchase = result.reports["models"]["repurchase_30d"]
    assert repurchase["auc"] > repurchase["baseline_auc"]


def test_personas_match_the_planted_ones(
    tags: pd.DataFrame, personas: pd.DataFrame, tagged
) -> None:
    engine, result = tagged
    found = tags[tags.key == "persona"][["user_id", "value"]]
    truth = personas[["primary_user_id", "persona"]].rename(columns={"primary_user_id": "user_id"})
    both = found.merge(truth, on="user_id")
    # Every buyer has a persona; those users.csv lists have a planted one (the planted orders
    # of unlisted buyers are kept too, and make buyers of their own).
    unlisted = set(found.user_id) - set(truth.user_id)
    assert len(both) == len(found) - len(unlisted) >= 2_000
    assert adjusted_rand_score(both.persona, both.value) >= 0.8
    report = result.reports["personas"]
    assert report["k"] == max(report["silhouettes"], key=report["silhouettes"].get)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT name, size, share FROM personas WHERE run_id = ?", (result.run_id,)
        ).all()
    assert len(rows) == report["k"]
    assert sum(size for _, size, _ in rows) == len(found)
    assert {name for name, _, _ in rows} == set(found.value)
    # The young parents' persona is named by what sets them apart.
    parents = both[both.persona == "young_parent"].value.mode()[0]
    assert "baby" in parents and "evening" in parents
