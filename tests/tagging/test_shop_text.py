"""Values as shops write them: the shop's time zone, Chinese text, money and vocabularies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
from sqlalchemy.engine import Engine

from store.audiences.expressions import parse
from store.audiences.selection import selection_of
from store.errors import InputError
from store.profiles.export import export_tags
from tagging.ingest import connect
from tagging.parsing import GENDERS, NOT_SAID, in_vocabulary, parse_date, parse_money, tag_text
from tagging.run import RunOptions, run_tagging
from tagging.shop import Shop, load_shop
from tests.tagging.conftest import ID_KEY, write_csv

# Two Beijing evenings (20:30 and 23:30 on 1 May) and one just after midnight on 2 May.
ORDERS = """
order_id,user_id,ts,amount
o1,u1,2026-05-01T20:30:00+08:00,10
o2,u1,2026-05-01 23:30:00,10
o3,u2,2026-05-02T00:30:00+08:00,10
"""


def _values(expression: ibis.Value) -> list[object]:
    con = connect()
    try:
        return con.to_pyarrow(expression).to_pylist()
    finally:
        con.disconnect()


def test_tag_values_keep_letters_of_every_script() -> None:
    t = ibis.memtable(
        pa.table({"x": ["East China", "母婴 用品", "ＡＢ１２", "Été", "--", None, "金卡"]})
    )
    assert _values(tag_text(t.x)) == [
        "east_china",
        "母婴_用品",
        "ab12",
        "été",
        None,
        None,
        "金卡",
    ]


def test_money_is_read_with_currency_signs_and_thousands_separators() -> None:
    t = ibis.memtable(
        pa.table({"x": ["¥355.99", "$1,200.50", " 12.5 ", "88元", "€3", "1,2", "lots", None]})
    )
    assert _values(parse_money(t.x)) == [355.99, 1200.5, 12.5, 88.0, 3.0, None, None, None]


def test_birth_dates_are_read_in_every_layout() -> None:
    t = ibis.memtable(
        pa.table({"x": ["1980/08/15", "19800815", "1980-08-15", "1980年8月15日", "15.08.1980"]})
    )
    day = date(1980, 8, 15)
    assert _values(parse_date(t.x)) == [day, day, day, day, None]


def test_genders_are_read_in_chinese_and_english_spellings() -> None:
    t = ibis.memtable(pa.table({"g": ["男", "女", "F", " Male", "female", "x", None]}))
    assert _values(in_vocabulary(t.g, GENDERS, other="other")) == [
        "male",
        "female",
        "female",
        "male",
        "female",
        "other",
        None,
    ]


def test_a_not_said_spelling_is_empty_and_an_unlisted_word_stays_as_written() -> None:
    t = ibis.memtable(pa.table({"g": ["保密", " N/A ", "M", "Nonbinary ", "", None]}))
    spellings = {**NOT_SAID, **GENDERS}
    assert _values(in_vocabulary(t.g, spellings)) == [None, None, "male", "nonbinary", None, None]


def _slots(engine: Engine, folder: Path, **options: object) -> dict[str, str]:
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY, **options))
    tags = export_tags(engine=engine, run_id=result.run_id)
    slots = tags[tags.key == "purchase_time_slot"]
    return dict(zip(slots.user_id, slots.value, strict=True))


def test_time_of_day_is_the_shops_not_utcs(tmp_path: Path, engine: Engine) -> None:
    folder = write_csv(tmp_path / "shop", "orders", ORDERS).parent
    # In UTC, 20:30 and 23:30 in Beijing are 12:30 and 15:30 (afternoon); 00:30 is 16:30.
    assert _slots(engine, folder) == {"u1": "afternoon", "u2": "afternoon"}
    assert _slots(engine, folder, timezone="Asia/Shanghai") == {"u1": "evening", "u2": "night"}


def test_an_as_of_day_is_the_shops_day(tmp_path: Path, engine: Engine) -> None:
    folder = write_csv(tmp_path / "shop", "orders", ORDERS).parent
    options = RunOptions(
        source=folder, id_key=ID_KEY, as_of=date(2026, 5, 1), timezone="Asia/Shanghai"
    )
    result = run_tagging(engine=engine, options=options)
    assert result.quality["orders"]["kept"] == 2
    assert result.quality["orders"]["after_as_of"] == 1  # 00:30 on 2 May in Beijing
    assert result.as_of == datetime(2026, 5, 1, 15, 59, 59, 999999, tzinfo=UTC)


def test_shop_settings_in_the_source_folder_map_headers_and_spellings(
    tmp_path: Path, engine: Engine
) -> None:
    folder = tmp_path / "shop"
    write_csv(folder, "orders", "单号,买家,时刻,钱\n1,u1,2026-05-01 20:30:00,¥8\n")
    write_csv(folder, "users", "user_id,gender,member_level\nu1,靓仔,金卡\n")
    (folder / "shop.toml").write_text(
        '[shop]\ntimezone = "Asia/Shanghai"\n\n'
        '[columns.orders]\norder_id = "单号"\nuser_id = "买家"\nts = "时刻"\namount = "钱"\n\n'
        '[values.gender]\n"靓仔" = "male"\n',
        encoding="utf-8",
    )
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY))
    tags = export_tags(engine=engine, run_id=result.run_id)
    found = {(k, v) for k, v in zip(tags.key, tags.value, strict=True)}
    assert {("gender", "male"), ("member_level", "金卡"), ("monetary", "8.0")} <= found
    assert ("purchase_time_slot", "evening") in found
    assert result.as_of == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)


def test_chinese_categories_are_tags_an_expression_selects(tmp_path: Path, engine: Engine) -> None:
    folder = tmp_path / "shop"
    write_csv(
        folder,
        "orders",
        "order_id,user_id,ts,amount\no1,u1,2026-05-01,10\no2,u2,2026-05-01,10\n"
        "o3,u3,2026-05-01,10\n",
    )
    write_csv(
        folder,
        "order_items",
        "order_id,item_id,quantity,price,category\n"
        "o1,i1,1,10,母婴\no2,i2,1,10,户外\no3,i3,1,10,母婴\n",
    )
    result = run_tagging(engine=engine, options=RunOptions(source=folder, id_key=ID_KEY))
    tags = export_tags(engine=engine, run_id=result.run_id)
    preferred = tags[tags.key == "preferred_category"]
    assert sorted(zip(preferred.user_id, preferred.value, strict=True)) == [
        ("u1", "母婴"),
        ("u2", "户外"),
        ("u3", "母婴"),
    ]
    expression = parse("preferred_category:母婴 AND NOT preferred_category:户外")
    count = selection_of(engine=engine, run_id=result.run_id, expression=expression).count()
    assert count == 2


def test_shop_settings_name_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    cases = {
        '[columns.order]\nts = "x"\n': "[columns.order]: no such source (closest: 'orders')",
        '[columns.orders]\ntime = "x"\n': "[columns.orders]: 'time' is not a column of orders",
        '[values.gender]\n"靓仔" = "man"\n': "[values.gender]: '靓仔' = 'man'; a gender is one "
        "of female, male, other",
        '[values.colour]\n"红" = "red"\n': "[values.colour]: only gender, event_type have "
        "fixed values",
        '[shop]\ntimezone = "Beijing"\n': "time zone 'Beijing' is not an IANA time zone name",
        '[shop]\nencoding = "klingon"\n': "encoding 'klingon' is not one Python knows",
        '[shop]\nzone = "UTC"\n': "[shop] has unknown settings ['zone'] (timezone, encoding, "
        "non_merchandise)",
        '[shop]\nnon_merchandise = "coupon"\n': "[shop] non_merchandise must be a list of words, "
        "got 'coupon'",
    }
    for text, message in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InputError) as caught:
            load_shop(path)
        assert message in str(caught.value), text


def test_the_command_lines_zone_and_encoding_win_over_the_files(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text('[shop]\ntimezone = "Asia/Shanghai"\nencoding = "gbk"\n', encoding="utf-8")
    assert load_shop(path) == Shop(timezone="Asia/Shanghai", encoding="gbk")
    overridden = load_shop(path).with_overrides(timezone="Europe/Berlin", encoding="utf-16")
    assert overridden == Shop(timezone="Europe/Berlin", encoding="utf-16")
