"""The synthetic shop: deterministic, its truth files exact, its personas and dirt as planted."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tagging.generator import GeneratedShop, generate_shop
from tagging.generator.personas import RULES

END = date(2026, 10, 31)
END_MS = int(pd.Timestamp("2026-11-01", tz="UTC").value // 10**6)  # end + 1 day, 00:00 UTC
DAY_MS = 86_400_000
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})"


@dataclass(frozen=True)
class Shop:
    result: GeneratedShop
    path: Path
    frames: dict[str, pd.DataFrame]
    quality: dict[str, Any]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _epoch_ms(ts: pd.Series) -> np.ndarray:
    """Epoch milliseconds of mixed-format timestamps; -1 where unreadable."""
    out = np.full(len(ts), -1, dtype=np.int64)
    seconds = ts.str.fullmatch(r"\d{10}").to_numpy()
    millis = ts.str.fullmatch(r"\d{13}").to_numpy()
    iso = ts.str.fullmatch(ISO).to_numpy()
    out[seconds] = ts[seconds].astype("int64").to_numpy() * 1000
    out[millis] = ts[millis].astype("int64").to_numpy()
    parsed = pd.to_datetime(ts[iso], utc=True, format="ISO8601")
    out[iso] = ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_numpy()
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    path = tmp_path_factory.mktemp("shop")
    result = generate_shop(path, users=2_000, seed=7, end=END)
    names = ("users", "products", "events", "orders", "order_items", "identities")
    frames = {name: _read(path / f"{name}.csv") for name in names}
    for name in ("persons", "identifiers", "bots", "rules"):
        frames[name] = _read(path / "truth" / f"{name}.csv")
    frames["events"]["ms"] = _epoch_ms(frames["events"].ts)
    frames["orders"]["ms"] = _epoch_ms(frames["orders"].ts)
    quality = json.loads((path / "truth" / "quality.json").read_text())
    return Shop(result, path, frames, quality)


def _clean_orders(shop: Shop) -> pd.DataFrame:
    o = shop["orders"]
    ok = (o.order_id != "") & (o.ms >= 0) & ~o.amount.str.startswith("-")
    return o[ok & o.user_id.isin(shop["users"].user_id)]


def _person_of(shop: Shop) -> dict[str, str]:
    ids = shop["identifiers"]
    return dict(zip(ids.identifier, ids.person_key, strict=True))


def _keys(shop: Shop, persona: str) -> set[str]:
    persons = shop["persons"]
    return set(persons.person_key[persons.persona == persona])


def _persona_orders(shop: Shop, persona: str) -> pd.DataFrame:
    orders = _clean_orders(shop)
    return orders[orders.user_id.map(_person_of(shop)).isin(_keys(shop, persona))]


def _lines(shop: Shop, orders: pd.DataFrame) -> pd.DataFrame:
    """The clean order lines of `orders` with the buying person and the line's spend."""
    items = shop["order_items"]
    items = items[items.order_id.isin(orders.order_id) & (items.quantity.astype(int) > 0)].copy()
    buyer = dict(zip(orders.order_id, orders.user_id.map(_person_of(shop)), strict=True))
    items["person"] = items.order_id.map(buyer)
    items["spend"] = items.quantity.astype(int) * items.price.astype(float)
    return items


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    generate_shop(tmp_path / "a", users=300, seed=3)
    generate_shop(tmp_path / "b", users=300, seed=3)
    generate_shop(tmp_path / "c", users=300, seed=4)
    a, b, c = (_digests(tmp_path / name) for name in "abc")
    assert len(a) == 12 and a == b
    assert all(a[name] != c[name] for name in ("users.csv", "events.csv", "orders.csv"))


@pytest.mark.parametrize(
    ("kwargs", "quoted"),
    [
        ({"users": 0}, "got 0"),
        ({"users": 49}, "got 49"),
        ({"days": 100}, "got 100"),
        ({"seed": -1}, "got -1"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_value(
    tmp_path: Path, kwargs: dict[str, int], quoted: str
) -> None:
    with pytest.raises(ValueError, match=quoted):
        generate_shop(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


def test_result_counts_match_the_files(shop: Shop) -> None:
    r = shop.result
    assert (r.users, r.events, r.orders) == (2_000, len(shop["events"]), len(shop["orders"]))
    assert r.persons == len(shop["persons"]) == shop["identifiers"].person_key.nunique()
    assert len(shop["users"]) == shop["users"].user_id.nunique() == 2_000
    assert shop["users"].user_id.str.fullmatch(r"U\d{7}").all()
    assert shop["products"].item_id.str.fullmatch(r"I\d{5}").all()
    assert len(shop["products"]) == 2_000


def test_event_quality_counts_are_exact(shop: Shop) -> None:
    e, q = shop["events"], shop.quality["events"]
    bots = e.device_id.isin(shop["bots"].device_id)
    assert q["rows"] == len(e)
    assert q["bot"] == bots.sum() == shop["bots"].events.astype(int).sum()
    assert q["duplicate"] == len(e) - e.event_id.nunique()
    assert q["bad_timestamp"] == (e.ms < 0).sum()
    assert q["missing_event_type"] == (e.event_type == "").sum()
    assert q["missing_identity"] == ((e.user_id == "") & (e.device_id == "")).sum()
    dirt = sum(
        q[k]
        for k in ("bot", "duplicate", "bad_timestamp", "missing_event_type", "missing_identity")
    )
    assert q["clean"] == q["rows"] - dirt
    assert q["bot"] >= 0.02 * q["rows"] and q["duplicate"] >= 0.01 * q["rows"]


def test_duplicates_repeat_content_and_instant(shop: Shop) -> None:
    e = shop["events"]
    repeated = e[e.event_id.duplicated(keep=False)].drop(columns="ts")
    assert e.event_id.duplicated().sum() == shop.quality["events"]["duplicate"]
    assert (repeated.groupby("event_id").nunique() == 1).all().all()
    assert not e.device_id[e.event_id.duplicated()].isin(shop["bots"].device_id).any()


def test_order_and_item_quality_counts_are_exact(shop: Shop) -> None:
    o, items, q = shop["orders"], shop["order_items"], shop.quality
    assert q["orders"]["rows"] == len(o)
    assert q["orders"]["negative_amount"] == o.amount.str.startswith("-").sum()
    assert q["orders"]["bad_timestamp"] == (o.ms < 0).sum()
    assert q["orders"]["unknown_user"] == (~o.user_id.isin(shop["users"].user_id)).sum()
    assert q["orders"]["missing_order_id"] == (o.order_id == "").sum()
    assert q["orders"]["clean"] == len(_clean_orders(shop))
    assert q["order_items"]["rows"] == len(items)
    assert q["order_items"]["unknown_order"] == (~items.order_id.isin(o.order_id)).sum()
    assert q["order_items"]["bad_quantity"] == (items.quantity.astype(int) <= 0).sum()
    assert q["users"]["rows"] == 2_000 and q["identities"]["rows"] == len(shop["identities"])


def test_amount_is_items_minus_discount(shop: Shop) -> None:
    orders = _clean_orders(shop)
    items = shop["order_items"]
    items = items[items.quantity.astype(int) > 0]
    cents = (
        (items.quantity.astype(int) * (items.price.astype(float) * 100).round())
        .groupby(items.order_id)
        .sum()
    )
    gross = orders.order_id.map(cents)
    discount = (orders.discount.astype(float) * 100).round()
    assert ((gross - discount) == (orders.amount.astype(float) * 100).round()).all()
    assert orders.groupby("order_id").size().max() == 1
    lines = items[items.order_id.isin(orders.order_id)].groupby("order_id").size()
    assert lines.between(1, 4).all() and len(lines) == len(orders)


def test_every_order_has_an_order_and_a_pay_event_at_its_instant(shop: Shop) -> None:
    e = shop["events"]
    orders = _clean_orders(shop)
    for kind in ("order", "pay"):
        seen = set(zip(e.user_id[e.event_type == kind], e.ms[e.event_type == kind], strict=True))
        assert all((u, t) in seen for u, t in zip(orders.user_id, orders.ms, strict=True))


def test_timestamps_mix_formats_inside_the_window(shop: Shop) -> None:
    e = shop["events"]
    readable = e[e.ms >= 0]
    shares = [readable.ts.str.fullmatch(p).mean() for p in (ISO, r"\d{10}", r"\d{13}")]
    assert 0.4 < shares[0] < 0.6 and shares[1] > 0.15 and shares[2] > 0.15
    assert sum(shares) == pytest.approx(1.0)
    start_ms = END_MS - 366 * DAY_MS
    assert readable.ms.between(start_ms, END_MS - 1).all()
    assert shop["orders"].ms[shop["orders"].ms >= 0].between(start_ms, END_MS - 1).all()


def test_truth_identifiers_cover_every_account_and_person_device(shop: Shop) -> None:
    ids, e = shop["identifiers"], shop["events"]
    assert set(shop["users"].user_id) == set(ids.identifier[ids.kind == "user_id"])
    people = e[~e.device_id.isin(shop["bots"].device_id) & (e.device_id != "")]
    assert set(people.device_id) == set(ids.identifier[ids.kind == "device_id"])
    assert not set(shop["bots"].device_id) & set(ids.identifier)
    assert (e.user_id[e.device_id.isin(shop["bots"].device_id)] == "").all()
    per_person = ids.groupby(["person_key", "kind"]).size().unstack(fill_value=0)
    persons = shop["persons"].set_index("person_key")
    assert (per_person.user_id == persons.n_accounts.astype(int)).all()
    assert (per_person.device_id == persons.n_devices.astype(int)).all()


def test_two_accounts_share_a_phone_hash(shop: Shop) -> None:
    links = shop["identities"]
    phone = links[links.kind_b == "phone_hash"]
    two = shop["persons"].person_key[shop["persons"].n_accounts == "2"]
    person_of = _person_of(shop)
    phones = phone.groupby(phone.id_a.map(person_of)).id_b.nunique()
    accounts = phone.groupby(phone.id_a.map(person_of)).id_a.nunique()
    assert len(two) > 100 and (phones[two] == 1).all() and (accounts[two] == 2).all()
    logins = links[links.kind_a == "device_id"]
    assert (logins.id_a.map(person_of) == logins.id_b.map(person_of)).all()


def test_people_stay_below_bot_rates_and_bots_exceed_them(shop: Shop) -> None:
    e = shop["events"]
    readable = e[(e.ms >= 0) & (e.device_id != "")]
    per_minute = readable.groupby([readable.device_id, readable.ms // 60_000]).size()
    busiest = per_minute.groupby(level=0).max()
    bots = shop["bots"].set_index("device_id")
    assert busiest.drop(bots.index).max() < 15
    assert (busiest[bots.index[bots.kind == "rate"]] >= 30).all()
    assert (bots.kind == "user_agent").mean() == pytest.approx(0.6, abs=0.25)
    clean = (e.ms >= 0) & (e.event_type != "") & (e.device_id != "") & ~e.device_id.isin(bots.index)
    assert e[clean].groupby("session_id").event_id.nunique().max() <= 40


def test_anonymous_share_of_people_events(shop: Shop) -> None:
    e = shop["events"]
    people = e[~e.device_id.isin(shop["bots"].device_id) & (e.device_id != "")]
    assert 0.15 < (people.user_id == "").mean() < 0.25
    typed = people[people.event_type != ""]
    assert (typed["query"] != "").eq(typed.event_type == "search").all()


def test_young_parents_buy_baby_in_the_evening_on_the_app(shop: Shop) -> None:
    orders = _persona_orders(shop, "young_parent")
    lines = _lines(shop, orders)
    assert lines.spend[lines.category == "baby"].sum() / lines.spend.sum() >= 0.75
    hours = pd.to_datetime(orders.ms, unit="ms").dt.hour
    assert hours.between(18, 21).all() and (orders.channel == "app").mean() > 0.7


def test_outdoor_fans_order_outdoor_gear_at_weekends(shop: Shop) -> None:
    orders = _persona_orders(shop, "outdoor_enthusiast")
    lines = _lines(shop, orders)
    outdoor = lines.category.isin(["outdoor", "sports"])
    assert lines.spend[outdoor].sum() / lines.spend.sum() >= 0.75
    when = pd.to_datetime(orders.ms, unit="ms")
    assert (when.dt.day_of_week >= 5).all() and when.dt.hour.between(8, 15).all()


def test_bargain_hunters_use_coupons_worth_15_to_40_percent(shop: Shop) -> None:
    orders = _persona_orders(shop, "bargain_hunter")
    coupon = orders[orders.coupon_code != ""]
    assert len(coupon) / len(orders) >= 0.8
    discount = coupon.discount.astype(float)
    rate = discount / (coupon.amount.astype(float) + discount)
    assert rate.between(0.15, 0.40).all()
    median = _clean_orders(shop).amount.astype(float).median()
    assert orders.amount.astype(float).median() < median


def test_brand_loyal_spend_on_one_brand_at_high_value(shop: Shop) -> None:
    orders = _persona_orders(shop, "brand_loyal_high_value")
    by_brand = _lines(shop, orders).groupby(["person", "brand"]).spend.sum()
    top_share = by_brand.groupby(level=0).max() / by_brand.groupby(level=0).sum()
    assert top_share.median() >= 0.95 and (top_share >= 0.85).mean() >= 0.95
    shop_median = _clean_orders(shop).amount.astype(float).median()
    assert orders.amount.astype(float).median() >= 3 * shop_median
    assert (orders.coupon_code != "").mean() < 0.1


def test_night_impulse_orders_at_night_and_abandons_carts(shop: Shop) -> None:
    orders = _persona_orders(shop, "night_impulse")
    hours = pd.to_datetime(orders.ms, unit="ms").dt.hour
    assert hours.isin([23, 0, 1, 2]).all()
    e = shop["events"]
    owner = e.device_id.map(_person_of(shop))
    carts = e[(e.event_type == "add_to_cart") & owner.isin(_keys(shop, "night_impulse"))]
    carted = set(zip(owner[carts.index], carts.item_id, strict=True))
    lines = _lines(shop, orders)
    bought = set(zip(lines.person, lines.item_id, strict=True))
    assert len(carted - bought) / len(carted) >= 0.5


def test_lapsed_stop_ordering_200_days_before_the_end(shop: Shop) -> None:
    quiet, person_of = END_MS - 200 * DAY_MS, _person_of(shop)
    lapsed = _persona_orders(shop, "lapsed")
    assert (lapsed.ms < quiet).all()
    per_person = lapsed.groupby(lapsed.user_id.map(person_of)).size()
    assert len(per_person) == (shop["persons"].persona == "lapsed").sum()  # every one of them
    assert per_person.between(2, 6).all()
    e = shop["events"]
    owner = e.device_id.map(person_of)
    typed = (e.ms >= quiet) & (e.event_type != "")  # without the malformed copies
    late = e[typed & owner.isin(_keys(shop, "lapsed"))].drop_duplicates("event_id")
    assert (late.event_type == "view").all()
    assert late.groupby(owner[late.index]).size().max() <= 2
    orders = _clean_orders(shop)
    others = orders[~orders.user_id.isin(lapsed.user_id)]
    last = others.groupby(others.user_id.map(person_of)).ms.max()
    assert (last >= END_MS - 60 * DAY_MS).mean() > 0.85


def test_planted_rules_are_strong_and_their_numbers_exact(shop: Shop) -> None:
    rules = shop["rules"]
    # One row per planted rule, each of its own category's items, in the planted order.
    assert list(rules.antecedent_category) == [rule.category for rule in RULES]
    assert (rules.observed_lift.astype(float) >= 3).all()
    orders = _clean_orders(shop)
    lines = _lines(shop, orders)
    n = len(orders)
    planted = zip(
        rules.antecedent_item,
        rules.consequent_item,
        rules.observed_support.astype(float),
        rules.observed_lift.astype(float),
        strict=True,
    )
    for antecedent, consequent, observed_support, observed_lift in planted:
        with_a = set(lines.order_id[lines.item_id == antecedent])
        with_c = set(lines.order_id[lines.item_id == consequent])
        support = len(with_a & with_c) / n
        assert observed_support == pytest.approx(support, abs=1e-6)
        lift = len(with_a & with_c) / len(with_a) / (len(with_c) / n)
        assert observed_lift == pytest.approx(lift, rel=1e-3)
        assert support >= 0.002
    names = shop["products"].set_index("item_id").name
    assert names[rules.antecedent_item.iloc[0]].lower().endswith("formula")


def test_users_columns_follow_the_contract(shop: Shop) -> None:
    u = shop["users"]
    assert list(u.columns) == [
        "user_id",
        "registered_at",
        "birth_date",
        "age",
        "gender",
        "city",
        "region",
        "occupation",
        "member_level",
        "channel",
    ]
    only_age = u.birth_date == ""
    assert 0.05 < only_age.mean() < 0.15 and (u.age[only_age] != "").all()
    assert (u.age[~only_age] == "").all()
    assert set(u.gender) == {"F", "M", ""} and (u.gender == "").mean() < 0.06
    assert u.registered_at.str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}").all()
    assert set(u.member_level) <= {"bronze", "silver", "gold", "platinum"}
    loyal = shop["persons"].primary_user_id[shop["persons"].persona == "brand_loyal_high_value"]
    assert u.member_level[u.user_id.isin(loyal)].isin(["gold", "platinum"]).all()


def test_true_ages_match_birth_dates(shop: Shop) -> None:
    u = shop["users"].set_index("user_id")
    persons = shop["persons"].set_index("primary_user_id")
    born = pd.to_datetime(u.birth_date[u.birth_date != ""])
    before_birthday = born.dt.month * 100 + born.dt.day > END.month * 100 + END.day
    age = END.year - born.dt.year - before_birthday
    primary = age.index.intersection(persons.index)
    assert (age[primary] == persons.age[primary].astype(int)).all()
    given = u.age[u.age != ""].astype(int)
    primary_given = given.index.intersection(persons.index)
    assert (given[primary_given] == persons.age[primary_given].astype(int)).all()
    # Every person's primary account has one or the other, so no age goes unchecked.
    assert len(primary) + len(primary_given) == len(persons)
