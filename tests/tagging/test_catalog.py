"""Catalog rules add tags without code; a rule naming an unknown feature is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from store.errors import InputError
from store.profiles.export import export_tags
from tagging.catalog import BUILT_IN, KINDS
from tagging.catalog_rules import load_rules
from tagging.run import RunOptions, run_tagging
from tests.tagging.conftest import ID_KEY

ORDERS = """
order_id,user_id,ts,amount,coupon_code,discount
o1,saver,2026-06-01T10:00:00Z,10,C1,5
o2,saver,2026-06-02T10:00:00Z,10,C2,5
o3,saver,2026-06-03T10:00:00Z,10,,4
o4,payer,2026-06-03T10:00:00Z,90,,0
o5,payer,2026-06-04T10:00:00Z,90,C3,1
o6,payer,2026-06-05T10:00:00Z,90,,0
o7,once,2026-06-05T10:00:00Z,90,C9,9
"""
CATALOG = """
[tags.bargain_hunter]
kind = "psychographic"
description = "Buys mostly with coupons or discounts"
when = "discount_order_share >= 0.6 and orders >= 3"

[tags.recommended_channel]
kind = "channel"
description = "Where to reach the person"
values = [
  { value = "app_push", when = "monetary > 100" },
  { value = "sms", when = "not (monetary > 100)" },
]
"""


def _run_with(tmp_path: Path, shop_dir, engine: Engine, catalog: str) -> int:
    path = tmp_path / "catalog.toml"
    path.write_text(catalog)
    options = RunOptions(source=shop_dir(orders=ORDERS), id_key=ID_KEY, catalog=path)
    return run_tagging(engine=engine, options=options).run_id


def test_rule_tags_follow_their_conditions(tmp_path: Path, shop_dir, engine: Engine) -> None:
    run_id = _run_with(tmp_path, shop_dir, engine, CATALOG)
    tags = export_tags(engine=engine, run_id=run_id)
    hunters = tags[tags.key == "bargain_hunter"]
    assert list(zip(hunters.user_id, hunters.value, strict=True)) == [("saver", "yes")]
    channel = tags[tags.key == "recommended_channel"].set_index("user_id")["value"].to_dict()
    assert channel == {"saver": "sms", "payer": "app_push", "once": "sms"}


def test_unknown_feature_is_an_error_that_names_it(
    tmp_path: Path, shop_dir, engine: Engine
) -> None:
    catalog = '[tags.big]\nkind = "custom"\nwhen = "monetry > 100"\n'
    with pytest.raises(InputError) as caught:
        _run_with(tmp_path, shop_dir, engine, catalog)
    assert str(caught.value) == (
        f"{tmp_path / 'catalog.toml'}: tag 'big': unknown feature 'monetry'; did you mean monetary?"
    )


@pytest.mark.parametrize(
    ("catalog", "message"),
    [
        ('[tags.x]\nwhen = "orders >="', "`when` does not parse"),
        ("[tags.x]\nwhen = \"__import__('os')\"", "is not allowed in `when`"),
        ('[tags.x]\nwhen = "orders"', "`when` must be a condition"),
        ('[tags.x]\nkind = "mood"\nwhen = "orders > 1"', "kind 'mood' is not one of"),
        ('[tags.Bad-Key]\nwhen = "orders > 1"', "keys are snake_case"),
        ('[tags.x]\ndescription = "no rule"', "needs `when"),
        ("[tags.x\n", "cannot read the catalog"),
    ],
)
def test_malformed_rules_are_refused_with_the_reason(
    tmp_path: Path, shop_dir, engine: Engine, catalog: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        _run_with(tmp_path, shop_dir, engine, catalog)


def test_every_built_in_key_is_documented() -> None:
    keys = [d.key for d in BUILT_IN]
    assert len(keys) == len(set(keys))
    for definition in BUILT_IN:
        assert definition.kind in KINDS
        assert definition.description
        assert definition.value_type in {"category", "score", "number", "flag"}


def test_load_rules_reads_definitions(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CATALOG)
    rules = load_rules(path)
    assert [(r.definition.key, r.definition.kind, r.definition.values) for r in rules] == [
        ("bargain_hunter", "psychographic", ("yes",)),
        ("recommended_channel", "channel", ("app_push", "sms")),
    ]
