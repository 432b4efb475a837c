"""K-Means personas on hand-made buyers whose clusters are known, how they are named, and
what a shop may leave out of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store import personas as persona_queries
from tagging.ingest import memtable
from tagging.personas import LOGGED, Clusters, P, PersonaParams, cluster, describe, is_excluded
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

# Three groups of buyers far apart in recency, listed smallest first: 10, then 50, then 30.
GROUPS = [(10, 5.0), (50, 400.0), (30, 90.0)]


def _buyers(groups: list[tuple[int, float]] = GROUPS) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    recency = np.concatenate([rng.normal(days, 1.0, size) for size, days in groups])
    frame = pd.DataFrame({P: np.arange(len(recency)), "recency_days": recency})
    for column in LOGGED:
        if column != "recency_days":
            frame[column] = 1.0
    return frame


@pytest.mark.parametrize("k", [3, None])
def test_personas_are_numbered_largest_first(k: int | None) -> None:
    """Persona 0 is the largest cluster whatever K-Means' own numbering (which follows its
    starting centres); with k unset, the sample's silhouettes choose 3 and the sample's best
    start is refined on every buyer."""
    found = cluster(_buyers(), PersonaParams(k=k, k_range=(2, 5), silhouette_sample=60))
    assert found is not None and found.k == 3
    expected = np.repeat([2, 0, 1], [size for size, _days in GROUPS])
    assert found.labels.tolist() == expected.tolist()
    assert found.persons.tolist() == list(range(90))


def test_a_k_whose_smallest_persona_is_under_the_floor_is_not_chosen() -> None:
    """Three buyers far from everyone make the best silhouette a persona of their own, 3 of
    120 buyers (0.025); with a floor of 0.05 on a persona's share, k = 2 is chosen."""
    buyers = _buyers([(3, 5.0), (60, 400.0), (57, 90.0)])
    free = cluster(buyers, PersonaParams(k_range=(2, 3), silhouette_sample=120, min_share=0.0))
    assert free is not None and free.k == 3
    assert free.report["smallest_share"][3] == 0.025
    floored = cluster(buyers, PersonaParams(k_range=(2, 3), silhouette_sample=120, min_share=0.05))
    assert floored is not None and floored.k == 2
    assert np.bincount(floored.labels).tolist() == [60, 60]  # the three join the 90-day group
    assert floored.report == {"smallest_share": {2: 0.5, 3: 0.025}, "min_share": 0.05}


@pytest.mark.parametrize(
    ("category", "excluded"),
    [
        ("COUPON/MISC ITEMS", True),
        ("coupon_misc_items", True),  # as a tag value
        ("COUPONS/STORE & MFG", True),
        ("FUEL", True),
        ("BOTTLE DEPOSITS", True),
        ("Gift Card", True),
        ("运费", True),
        ("运费险", True),  # inside a name written without spaces
        ("COFFEE", False),
        ("BAG SNACKS", False),
        ("MISC. DAIRY", False),
        ("gift cards and wrap", False),  # "gift card" as words only
        ("母婴", False),
    ],
)
def test_non_merchandise_categories_are_told_by_their_words(category: str, excluded: bool) -> None:
    assert is_excluded(category, PersonaParams().exclude_categories) is excluded


def test_a_persona_is_named_only_by_tags_that_set_it_apart() -> None:
    """Buyers 0-4 are persona 0, 5-9 persona 1 (lift = share inside / share of all 10)."""
    tags = [
        *[(p, "preferred_category", "coupon_misc_items") for p in range(5)],  # 2.0x, a coupon
        *[(p, "purchase_time_slot", "night") for p in range(4)],  # 0.8 inside, 2.0x
        *[(p, "lifecycle", "active") for p in range(9)],  # 1.0 inside, 1.11x: not apart
        *[(p, "rfm_segment", "high_value") for p in range(5, 8)],  # 0.6 inside persona 1, 2.0x
    ]
    table = memtable(pd.DataFrame(tags, columns=[P, "key", "value"]))
    labels = np.repeat([0, 1], 5)
    members = memtable(pd.DataFrame({P: np.arange(10), "persona": labels}))
    found = Clusters(
        persons=np.arange(10),
        labels=labels,
        k=2,
        silhouettes={},
        centroids=pd.DataFrame({"recency_days": [1.0, 2.0]}),
    )
    described = describe(found, table, members, PersonaParams())
    assert described.name.tolist() == ["night", "high_value"]
    assert described.top_tags.tolist() == [
        [{"key": "purchase_time_slot", "value": "night", "share": 0.8, "lift": 2.0}],
        [{"key": "rfm_segment", "value": "high_value", "share": 0.6, "lift": 2.0}],
    ]
    # With lift 1.11 enough, "active" (share 1.0) comes second in persona 0's name.
    loose = describe(found, table, members, PersonaParams(min_name_lift=1.1))
    assert loose.name.tolist() == ["night_active", "high_value"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"k_range": (1, 4)}, "k_range must be (low, high) with 2 <= low <= high, got (1, 4)"),
        ({"k": 1}, "k must be 2 or more, got 1"),
        ({"min_share": 0.2}, "min_share must be in [0, 1/8) for k up to 8, got 0.2"),
        ({"min_name_lift": 0.9}, "min_name_lift must be 1 or more, got 0.9"),
    ],
)
def test_persona_parameters_out_of_range_are_refused_naming_the_value(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        PersonaParams(**params)  # type: ignore[arg-type]
    assert str(raised.value) == message


def _baby_and_toys_shop(folder: Path) -> Path:
    """40 buyers of two orders each: the even ones buy baby things, the odd ones toys."""
    orders, items = ["order_id,user_id,ts,amount"], ["order_id,item_id,quantity,price,category"]
    for buyer in range(40):
        category = "baby" if buyer % 2 == 0 else "toys"
        for n, day in enumerate((3, 20 + buyer % 7)):
            order = f"o{buyer}_{n}"
            orders.append(f"{order},u{buyer},2026-06-{day:02d}T10:00:00Z,{10 + buyer}")
            items.append(f"{order},{category}-{buyer % 3},1,{10 + buyer},{category}")
    folder.mkdir(parents=True)
    (folder / "orders.csv").write_text("\n".join(orders) + "\n")
    (folder / "order_items.csv").write_text("\n".join(items) + "\n")
    return folder


@pytest.mark.parametrize(
    ("settings", "shares"),
    [
        ("", ["cat_baby", "cat_toys"]),
        ('[shop]\nnon_merchandise = ["baby"]\n', ["cat_toys"]),
    ],
)
def test_a_shop_names_its_own_non_merchandise_categories_in_shop_toml(
    tmp_path: Path, engine: Engine, settings: str, shares: list[str]
) -> None:
    folder = _baby_and_toys_shop(tmp_path / "shop")
    (folder / "shop.toml").write_text(settings)
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.connect() as connection:
        found = persona_queries.personas(connection=connection, run_id=result.run_id)
    centroids = {column for persona in found for column in persona.centroid}
    assert sorted(c for c in centroids if c.startswith("cat_")) == shares
