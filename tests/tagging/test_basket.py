"""Basket rules, recommendations and likely_next_category on the hand-counted basket shop
(tests/factories.py: BASKETS). At min support 0.25 (2 baskets) E is pruned, A 5, B 4, C 3,
D 2; the pairs AB 3, AC 2, BC 2 are frequent (AD, BD, ABC are in one basket only)."""

from __future__ import annotations

import io
from pathlib import Path

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy.engine import Engine

from store import basket as basket_queries
from store.basket import ItemRow, RecommendationRow
from store.profiles.export import export_tags
from tagging import basket, itemsets
from tagging.basket import BasketParams, mine_rules
from tagging.ingest import connect
from tagging.run import RunOptions, run_tagging
from tests.factories import BASKET_ORDER_ITEMS, BASKET_ORDERS, BASKET_PRODUCTS, BASKETS
from tests.tagging.conftest import ID_KEY

PARAMS = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1)
PAIRS = pd.DataFrame(
    [(order, item) for order, items in BASKETS.items() for item in items],
    columns=["basket", "entry"],
)


@pytest.fixture(params=["fpgrowth", "hmine"])
def miner(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test of mining runs with either of mlxtend's miners finding the itemsets."""
    limit = 0 if request.param == "fpgrowth" else 1_000
    monkeypatch.setattr(itemsets, "HMINE_MAX_ENTRIES", limit)
    assert itemsets.miner(4).__name__ == request.param
    return str(request.param)


def test_few_entries_are_mined_by_hmine_many_by_fpgrowth() -> None:
    assert itemsets.miner(itemsets.HMINE_MAX_ENTRIES).__name__ == "hmine"
    assert itemsets.miner(itemsets.HMINE_MAX_ENTRIES + 1).__name__ == "fpgrowth"


@pytest.mark.usefixtures("miner")
def test_rules_have_the_hand_counted_metrics_strongest_first() -> None:
    mined = mine_rules(PAIRS, PARAMS, level="item")
    rules = mined.rules
    assert list(zip(rules.antecedents, rules.consequents, strict=True)) == [
        (("C",), ("B",)),  # lift 4/3, confidence 2/3
        (("B",), ("C",)),  # lift 4/3, confidence 1/2 (exactly the minimum: kept)
        (("B",), ("A",)),  # lift 1.2, confidence 3/4
        (("A",), ("B",)),  # lift 1.2, confidence 3/5; C -> A (lift 16/15) is below 1.1
    ]
    assert rules.support.tolist() == pytest.approx([2 / 8, 2 / 8, 3 / 8, 3 / 8])
    assert rules.confidence.tolist() == pytest.approx([2 / 3, 1 / 2, 3 / 4, 3 / 5])
    assert rules.lift.tolist() == pytest.approx([4 / 3, 4 / 3, 1.2, 1.2])
    assert rules.antecedent_support.tolist() == pytest.approx([3 / 8, 4 / 8, 4 / 8, 5 / 8])
    assert rules.consequent_support.tolist() == pytest.approx([4 / 8, 3 / 8, 5 / 8, 4 / 8])
    assert rules.leverage.tolist() == pytest.approx(
        [2 / 8 - 3 / 8 * 4 / 8, 2 / 8 - 4 / 8 * 3 / 8, 3 / 8 - 4 / 8 * 5 / 8, 3 / 8 - 5 / 8 * 4 / 8]
    )
    assert rules.conviction.tolist() == pytest.approx([1.5, 1.25, 1.5, 1.25])
    assert mined.report() == {
        "baskets": 8,
        "multi_item_baskets": 5,
        "frequent_items": 4,
        "itemsets": 3,
        "rules": 4,
        "seconds": mined.seconds,
        # AB, AC, BC are frequent, and the one triangle they make, ABC, is the one candidate
        # triple (in one basket only: not frequent). Four candidates fit: nothing raised.
        "requested_min_support": 0.25,
        "min_support": 0.25,
        "max_itemsets": 1_000,
        "max_len": 3,
        "pairs_at_requested": 3,
        "candidates": 4,
    }


@pytest.mark.usefixtures("miner")
def test_an_entry_exactly_at_the_minimum_support_is_frequent() -> None:
    # D is in 2 of 8 baskets: support 0.25 is frequent at 0.25, not at 0.26.
    assert mine_rules(PAIRS, PARAMS, level="item").frequent_items == 4
    assert mine_rules(PAIRS, BasketParams(min_support=0.26), level="item").frequent_items == 3


@pytest.mark.usefixtures("miner")
def test_rules_that_never_fail_have_no_conviction() -> None:
    pairs = pd.DataFrame({"basket": [1, 1, 2, 2, 3], "entry": ["x", "y", "x", "y", "x"]})
    rules = mine_rules(pairs, BasketParams(min_support=0.5, min_lift=1.0), level="item").rules
    assert list(zip(rules.antecedents, rules.consequents, strict=True)) == [
        (("y",), ("x",)),  # confidence 1: conviction is infinite, kept as missing
        (("x",), ("y",)),
    ]
    assert rules.conviction.isna().tolist() == [True, False]


@pytest.fixture
def basket_run(shop_dir, engine: Engine) -> int:
    folder = shop_dir(
        orders=BASKET_ORDERS, order_items=BASKET_ORDER_ITEMS, products=BASKET_PRODUCTS
    )
    options = RunOptions(folder, ID_KEY, basket=PARAMS)
    return run_tagging(engine=engine, options=options).run_id


def _person_idx(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        from store.profiles.reads import persons_by_identifier

        found = persons_by_identifier(
            connection=connection, run_id=run_id, identifiers=["u1", "u2", "u3", "u4"]
        )
    return {user: person.person_idx for user, person in found}


def test_a_run_stores_both_levels_of_rules_and_its_report(engine: Engine, basket_run: int) -> None:
    with engine.connect() as connection:
        items = basket_queries.rules(connection=connection, run_id=basket_run, level="item")
        categories = basket_queries.rules(
            connection=connection, run_id=basket_run, level="category"
        )
        report = basket_queries.report(connection=connection, run_id=basket_run, section="basket")
        named = basket_queries.items(
            connection=connection, run_id=basket_run, item_ids=["A", "C", "E"]
        )
    assert [(r.rank, r.antecedents, r.consequents) for r in items] == [
        (1, ["C"], ["B"]),
        (2, ["B"], ["C"]),
        (3, ["B"], ["A"]),
        (4, ["A"], ["B"]),
    ]
    # baby in 6 baskets, toys 3, food 2; baby and toys together in o1, o3, o4
    assert [(r.antecedents, r.consequents, r.confidence, r.conviction) for r in categories] == [
        (["toys"], ["baby"], 1.0, None),
        (["baby"], ["toys"], 0.5, 1.25),
    ]
    assert report is not None
    assert {level: report[level]["rules"] for level in ("item", "category")} == {
        "item": 4,
        "category": 2,
    }
    assert "note" not in report
    assert sorted(named) == [ItemRow("A", "Formula", "baby"), ItemRow("C", "Rattle", "toys")]


def test_recommendations_skip_what_was_bought_and_name_their_rule(
    engine: Engine, basket_run: int
) -> None:
    people = _person_idx(engine, basket_run)
    with engine.connect() as connection:
        found = basket_queries.recommendations(
            connection=connection, run_id=basket_run, person_idxs=list(people.values())
        )
    # u1 and u2 bought A, B and C: every rule's consequent. u3 (A B D) gets C from B -> C
    # (0.5 - 3/8); u4 (D E A) gets B from A -> B (0.6 - 0.5).
    assert sorted(found) == sorted(
        [
            RecommendationRow(people["u3"], 1, "C", pytest.approx(0.125), 2),  # type: ignore[arg-type]
            RecommendationRow(people["u4"], 1, "B", pytest.approx(0.1), 4),  # type: ignore[arg-type]
        ]
    )


def test_without_excluding_bought_items_every_fired_consequent_is_ranked(
    shop_dir, engine: Engine
) -> None:
    folder = shop_dir(
        orders=BASKET_ORDERS, order_items=BASKET_ORDER_ITEMS, products=BASKET_PRODUCTS
    )
    params = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1, exclude_bought=False)
    run_id = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, basket=params)).run_id
    u1 = _person_idx(engine, run_id)["u1"]
    with engine.connect() as connection:
        found = basket_queries.recommendations(
            connection=connection, run_id=run_id, person_idxs=[u1]
        )
    # B by C -> B (2/3 - 1/2); C by B -> C and A by B -> A tie at 1/8: the stronger rule first.
    assert [(r.rank, r.item_id, r.rule_rank) for r in found] == [
        (1, "B", 1),
        (2, "C", 2),
        (3, "A", 3),
    ]
    assert [r.score for r in found] == pytest.approx([1 / 6, 1 / 8, 1 / 8])


def test_likely_next_category_is_a_basket_tag(engine: Engine, basket_run: int) -> None:
    tags = export_tags(engine=engine, run_id=basket_run)
    likely = tags[tags.key == "likely_next_category"]
    # u1 and u2 already buy baby and toys; u3 (baby, food) and u4 (food, pets, baby) get toys
    # from baby -> toys: 0.5 - 3/8.
    assert sorted(zip(likely.user_id, likely.value, likely.score, strict=True)) == [
        ("u3", "toys", 0.125),
        ("u4", "toys", 0.125),
    ]


def test_a_shop_without_multi_item_orders_gets_no_rules_and_a_note(
    shop_dir, engine: Engine, tmp_path: Path
) -> None:
    single = "order_id,item_id,quantity,price\n" + "\n".join(
        f"{order},{items[0]},1,10" for order, items in BASKETS.items()
    )
    folder = shop_dir(orders=BASKET_ORDERS, order_items=single)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY, basket=PARAMS))
    assert result.reports["basket"]["note"] == (
        "no order holds two or more items: no basket rules can be mined"
    )
    assert result.reports["basket"]["item"]["rules"] == 0
    with engine.connect() as connection:
        assert basket_queries.rules(connection=connection, run_id=result.run_id, level="item") == []
    assert "likely_next_category" not in set(export_tags(engine=engine, run_id=result.run_id).key)


def test_the_baskets_file_numbers_orders_by_person_and_order(tmp_path: Path) -> None:
    """One row per (order, item), sorted by person, order and item; orders numbered from 0 in
    that order; a repeated line of an order counted once; the file is written in `tmp_path`
    and removed from it."""
    items = pa.table(
        {
            "person_idx": [1, 0, 1, 0, 0, 1],
            "order_id": ["o9", "o5", "o2", "o5", "o7", "o9"],
            "item_id": ["B", "C", "A", "A", "B", "B"],
            "category": ["x", "y", None, "x", "x", "x"],
            "quantity": [1, 1, 1, 2, 1, 1],
        }
    )
    con = connect()
    try:
        table = con.create_table("p_items", ibis.memtable(items))
        content = basket.baskets_file(con, table, tmp_path)
    finally:
        con.disconnect()
    assert list(tmp_path.iterdir()) == []
    written = pq.read_table(io.BytesIO(content))
    assert [(f.name, str(f.type)) for f in written.schema] == [
        ("person_idx", "int64"),
        ("basket", "int32"),
        ("item_id", "string"),
        ("category", "string"),
    ]
    assert written.to_pylist() == [
        {"person_idx": 0, "basket": 0, "item_id": "A", "category": "x"},  # o5
        {"person_idx": 0, "basket": 0, "item_id": "C", "category": "y"},
        {"person_idx": 0, "basket": 1, "item_id": "B", "category": "x"},  # o7
        {"person_idx": 1, "basket": 2, "item_id": "A", "category": None},  # o2
        {"person_idx": 1, "basket": 3, "item_id": "B", "category": "x"},  # o9, twice
    ]


@pytest.mark.usefixtures("miner")
def test_past_max_itemsets_the_support_is_raised_until_the_candidates_fit() -> None:
    # At 0.25 (2 baskets) the candidates are AB 3, AC 2, BC 2 and their triangle ABC: 4, over
    # a cap of 2. At 3 baskets only AB is left (1 candidate): mined at 3/8.
    params = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1, max_itemsets=2)
    mined = mine_rules(PAIRS, params, level="item")
    assert list(zip(mined.rules.antecedents, mined.rules.consequents, strict=True)) == [
        (("B",), ("A",)),
        (("A",), ("B",)),
    ]
    assert mined.report() == {
        "baskets": 8,
        "multi_item_baskets": 5,
        "frequent_items": 4,
        "itemsets": 1,
        "rules": 2,
        "seconds": mined.seconds,
        "requested_min_support": 0.25,
        "min_support": 0.375,
        "max_itemsets": 2,
        "max_len": 3,
        "pairs_at_requested": 3,
        "candidates": 1,
    }


@pytest.mark.usefixtures("miner")
def test_rules_under_the_ranking_support_rank_after_the_others_whatever_their_lift() -> None:
    # C -> B and B -> C (support 2/8) have the highest lift, 4/3, but are under 0.3.
    params = BasketParams(min_support=0.25, min_confidence=0.5, min_lift=1.1, rank_min_support=0.3)
    rules = mine_rules(PAIRS, params, level="item").rules
    assert list(zip(rules.antecedents, rules.consequents, strict=True)) == [
        (("B",), ("A",)),  # support 3/8, lift 1.2, confidence 3/4
        (("A",), ("B",)),  # support 3/8, lift 1.2, confidence 3/5
        (("C",), ("B",)),  # support 2/8, lift 4/3, confidence 2/3
        (("B",), ("C",)),  # support 2/8, lift 4/3, confidence 1/2
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_len", 1, "max_len must be 2 or more (a rule needs two entries), got 1"),
        ("max_itemsets", 0, "max_itemsets must be 1 or more, got 0"),
        ("min_support", 0.0, "min_support must be in (0, 1], got 0.0"),
        ("rank_min_support", 1.5, "rank_min_support must be in (0, 1], got 1.5"),
    ],
)
def test_basket_parameters_out_of_range_are_refused_naming_the_value(
    field: str, value: float, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        BasketParams(**{field: value})
    assert str(raised.value) == message
