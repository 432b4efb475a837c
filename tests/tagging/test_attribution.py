"""Attribution models against hand-computed examples."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import pytest
from sqlalchemy.engine import Engine

from store import attribution
from store.audiences.expressions import parse
from store.audiences.selection import selection_of
from store.db import make_engine
from store.errors import InputError
from tagging.attribution import completejourney, shapley
from tagging.attribution.answer import compute
from tagging.attribution.holdout import holdout_lifts
from tagging.attribution.inputs import read_kept
from tagging.attribution.markov import removal_effects
from tagging.attribution.paths import conversion_paths
from tagging.attribution.report import AttributionParams, attribute
from tagging.attribution.rules import rule_credit
from tagging.attribution.shapley import shapley_credit
from tagging.generator import generate_shop
from tagging.generator.touches import VIP
from tagging.run import RunOptions, run_tagging
from tagging.shop import load_shop
from tests.tagging.conftest import ID_KEY

DAY0 = pd.Timestamp("2026-06-01")
LAST = "last_touch"


def _touches(rows: list[tuple[int, float, str]], campaign: str | None = None) -> pd.DataFrame:
    """(person, day, channel) rows as touches."""
    return pd.DataFrame(
        {
            "person_idx": [p for p, _, _ in rows],
            "ts": [DAY0 + pd.Timedelta(days=d) for _, d, _ in rows],
            "channel": [c for _, _, c in rows],
            "campaign": campaign,
            "kind": "click",
            "cost": 1.0,
        }
    )


def _orders(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_idx": pd.Series([p for p, _, _ in rows], dtype="int64"),
            "ts": pd.Series(
                [DAY0 + pd.Timedelta(days=d) for _, d, _ in rows], dtype="datetime64[ns]"
            ),
            "amount": pd.Series([a for _, _, a in rows], dtype=float),
        }
    )


# Three paths (the textbook example): A -> B -> conversion, A -> C -> null, B -> conversion.
# Transitions from start: A 2/3, B 1/3; from A: B 1/2, C 1/2; from B: conversion 1;
# from C: null 1. P(conversion) = 2/3 * 1/2 * 1 + 1/3 * 1 = 2/3.
# Without A: only start -> B -> conversion survives: 1/3, removal effect 1 - (1/3)/(2/3) = 1/2.
# Without B: nothing converts: removal effect 1. Without C: 2/3 still, removal effect 0.
# Shares: A 1/3, B 2/3, C 0.
THREE = _touches([(0, 1, "A"), (0, 2, "B"), (1, 1, "A"), (1, 2, "C"), (2, 1, "B")])
THREE_ORDERS = _orders([(0, 3, 100.0), (2, 3, 50.0)])


def test_markov_removal_effects_match_the_hand_computed_three_channel_example() -> None:
    paths = conversion_paths(THREE, THREE_ORDERS, window_days=30, level="channel")
    effects = removal_effects(paths).set_index("key")
    assert effects.removal_effect.to_dict() == pytest.approx({"A": 0.5, "B": 1.0, "C": 0.0})
    assert effects.share.to_dict() == pytest.approx({"A": 1 / 3, "B": 2 / 3, "C": 0.0})


def test_rule_models_split_each_conversion_as_documented() -> None:
    # One path of four steps, 21, 14, 7 and 0 days before a 100.0 order.
    touches = _touches([(0, 0, "A"), (0, 7, "B"), (0, 14, "C"), (0, 21, "D")])
    paths = conversion_paths(touches, _orders([(0, 21, 100.0)]), window_days=30, level="channel")
    expected: dict[str, dict[str, float]] = {
        "last_touch": {"A": 0, "B": 0, "C": 0, "D": 1},
        "first_touch": {"A": 1, "B": 0, "C": 0, "D": 0},
        "linear": {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25},
        # Weights 1/8, 1/4, 1/2, 1 over their sum 15/8.
        "time_decay": {"A": 1 / 15, "B": 2 / 15, "C": 4 / 15, "D": 8 / 15},
        "position_based": {"A": 0.4, "B": 0.1, "C": 0.1, "D": 0.4},
    }
    for model, shares in expected.items():
        credit = rule_credit(paths, model).set_index("key")
        assert credit.conversions.to_dict() == pytest.approx(shares), model
        assert credit.revenue.to_dict() == pytest.approx({k: 100 * v for k, v in shares.items()})


def test_touches_outside_the_window_form_a_path_without_conversion() -> None:
    touches = _touches([(0, 0, "A"), (0, 25, "B")])
    paths = conversion_paths(touches, _orders([(0, 40, 10.0)]), window_days=30, level="channel")
    steps = paths.steps.merge(paths.ends, on="path")
    assert steps.groupby("key").converted.first().to_dict() == {"A": False, "B": True}


def test_shapley_splits_rates_over_the_subsets_seen() -> None:
    # Rates: {A} 1/2 (2 paths), {B} 0 (2 paths), {A, B} 1 (2 paths).
    # Path {A,B}: A gets 1/2 (1/2 - 0) + 1/2 (1 - 0) = 3/4, B 1/2 (0 - 0) + 1/2 (1 - 1/2) = 1/4.
    # A: 2 paths x 1/2 + 2 x 3/4 = 2.5; B: 0 + 2 x 1/4 = 0.5 (the 3 conversions).
    alone = [(0, 1, "A"), (1, 1, "A"), (2, 1, "B"), (3, 1, "B")]
    touches = _touches([*alone, (4, 1, "A"), (4, 2, "B"), (5, 1, "B"), (5, 2, "A")])
    orders = _orders([(0, 3, 10.0), (4, 3, 10.0), (5, 3, 10.0)])
    paths = conversion_paths(touches, orders, window_days=30, level="channel")
    credit = shapley_credit(paths).set_index("key")
    assert credit.conversions.to_dict() == pytest.approx({"A": 2.5, "B": 0.5})
    assert credit.revenue.to_dict() == pytest.approx({"A": 25.0, "B": 5.0})


def test_holdout_lift_is_the_contacted_rate_minus_the_held_out_rate() -> None:
    # 4 contacted (3 order within 30 days), 4 held out (1 orders).
    touches = _touches([(p, 0, "sms") for p in range(8)], campaign="spring")
    touches.loc[touches.person_idx >= 4, "kind"] = "holdout"
    orders = _orders([(0, 5, 1.0), (1, 5, 1.0), (2, 5, 1.0), (4, 5, 1.0), (5, 45, 1.0)])
    lift = holdout_lifts(touches, orders, window_days=30).iloc[0]
    assert (lift.contacted, lift.contacted_converted) == (4, 3)
    assert (lift.held_out, lift.held_out_converted) == (4, 1)
    assert lift.lift == pytest.approx(0.5)
    se = (0.75 * 0.25 / 4 + 0.25 * 0.75 / 4) ** 0.5
    assert (lift.low, lift.high) == pytest.approx((0.5 - 1.959964 * se, 0.5 + 1.959964 * se))


# The generator's planted marketing world, through a whole run.
USERS = 10_000


@dataclass(frozen=True)
class MarketingRun:
    report: dict
    truth: dict
    kept: bytes
    engine: Engine
    run_id: int


@pytest.fixture(scope="module")
def marketing_run(tmp_path_factory: pytest.TempPathFactory) -> MarketingRun:
    """The run's attribution report, the planted truth and the run's kept touches and orders."""
    folder = tmp_path_factory.mktemp("marketing") / "shop"
    generate_shop(folder, users=USERS, seed=7, marketing=True)
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('store') / 'portrait.db'}")
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    with engine.connect() as connection:
        report = attribution.report(connection=connection, run_id=result.run_id)
        kept = attribution.kept_file(connection=connection, run_id=result.run_id)
    truth = json.loads((folder / "truth" / "attribution.json").read_text())
    assert report is not None and kept is not None
    return MarketingRun(report, truth, kept, engine, result.run_id)


def test_markov_and_shapley_shares_are_within_5_points_of_the_planted_truth(
    marketing_run: MarketingRun,
) -> None:
    truth = marketing_run.truth
    touches, orders = read_kept(marketing_run.kept)
    # The channels reached at random; vip_sms went to persons chosen for ordering anyway.
    at_random = touches[touches.campaign != VIP]
    table = attribute(at_random, orders, level="channel", models=("markov", "shapley"))
    for model in ("markov", "shapley"):
        credit = table[table.model == model].set_index("key").conversions
        shares = credit / credit.sum()
        for channel, planted in truth["channels"].items():
            assert abs(shares[channel] - planted["true_share"]) <= 0.05, (model, channel)


def test_holdout_intervals_contain_the_planted_lifts_and_last_touch_over_credits_vip(
    marketing_run: MarketingRun,
) -> None:
    report, truth = marketing_run.report, marketing_run.truth
    lifts = {row["campaign"]: row for row in report["holdouts"]}
    for campaign, planted in truth["campaigns"].items():
        assert lifts[campaign]["low"] <= planted["planted_lift"] <= lifts[campaign]["high"]
    vip = lifts[VIP]
    last_touch = {
        row["key"]: row["conversions"]
        for row in report["levels"]["campaign"]["rows"]
        if row["model"] == "last_touch"
    }
    # Last touch credits vip_sms with every order its contacted persons placed; the holdout
    # says at most `high * contacted` of them were caused by it.
    assert last_touch[VIP] > 5 * max(vip["high"], 0.01) * vip["contacted"]


def test_each_persona_s_credit_is_stored_as_its_audience_would_get_it(
    marketing_run: MarketingRun,
) -> None:
    touches, orders = read_kept(marketing_run.kept)
    stored = marketing_run.report["personas"]
    assert len(stored) >= 3
    for persona, levels in stored.items():
        members = selection_of(
            engine=marketing_run.engine,
            run_id=marketing_run.run_id,
            expression=parse(f"persona:{persona}"),
        ).everyone()
        for model in ("linear", "shapley"):
            asked = compute(
                touches,
                orders,
                model=model,
                level="campaign",
                params=AttributionParams(),
                persons=members,
            )
            rows = [r for r in levels["campaign"]["rows"] if r["model"] == model]
            assert {r["key"]: r["conversions"] for r in rows} == pytest.approx(
                dict(zip(asked.rows.key, asked.rows.conversions, strict=True))
            ), (persona, model)


def test_bad_touches_are_quarantined_with_their_reason(shop_dir, engine) -> None:
    folder = shop_dir(
        orders="""order_id,user_id,ts,amount,channel,coupon_code
        o1,u1,2026-06-04T10:00:00Z,100,app,SAVE10""",
        touches="""user_id,device_id,ts,channel,campaign,kind,cost
        u1,,2026-06-02T10:00:00Z,email,spring,Open,0.1
        ,,2026-06-02T10:00:00Z,email,spring,open,0.1
        u1,,someday,email,spring,open,0.1
        u1,,2026-06-02T10:00:00Z,,spring,open,0.1
        u1,,2026-06-02T10:00:00Z,email,spring,glance,0.1
        u1,,2026-06-02T10:00:00Z,email,spring,open,-3
        ,d7,2026-06-03T10:00:00Z,display,,,""",
    )
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    quality = result.quality["touches"]
    assert (quality["read"], quality["kept"]) == (7, 2)
    assert quality["dropped"] == {
        "bad_cost": 1,
        "bad_kind": 1,
        "bad_timestamp": 1,
        "missing_channel": 1,
        "missing_identity": 1,
    }
    # The order's channel and coupon are touches at its time, the channel first (the coupon is
    # redeemed at checkout): last touch gives the order to the coupon, its code the campaign.
    levels = result.reports["attribution"]["levels"]
    last = {
        level: {
            r["key"]: r["conversions"] for r in levels[level]["rows"] if r["model"] == "last_touch"
        }
        for level in ("channel", "campaign")
    }
    assert last == {
        "channel": {"email": 0.0, "app": 0.0, "coupon": 1.0},
        "campaign": {"spring": 0.0, "SAVE10": 1.0},
    }


def test_sampled_shapley_agrees_with_the_exact_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same paths as test_shapley_splits_rates_over_the_subsets_seen, by random orders.
    monkeypatch.setattr(shapley, "EXACT_KEYS", 1)
    alone = [(0, 1, "A"), (1, 1, "A"), (2, 1, "B"), (3, 1, "B")]
    touches = _touches([*alone, (4, 1, "A"), (4, 2, "B"), (5, 1, "B"), (5, 2, "A")])
    orders = _orders([(0, 3, 10.0), (4, 3, 10.0), (5, 3, 10.0)])
    paths = conversion_paths(touches, orders, window_days=30, level="channel")
    credit = shapley.shapley_credit(paths, samples=4_000).set_index("key")
    assert credit.conversions.to_dict() == pytest.approx({"A": 2.5, "B": 0.5}, abs=0.05)


def test_complete_journey_campaigns_and_redemptions_become_touches() -> None:
    raw = {
        "campaigns": pd.DataFrame({"campaign_id": [1, 2], "household_id": [105, 7]}),
        "campaign_descriptions": pd.DataFrame(
            {
                "campaign_id": [1, 2],
                "campaign_type": ["Type B", "Type A"],
                "start_date": pd.to_datetime(["2017-03-03", "2017-02-01"]),
                "end_date": pd.to_datetime(["2017-04-09", "2017-03-01"]),
            }
        ),
        "coupon_redemptions": pd.DataFrame(
            {
                "household_id": [105],
                "coupon_upc": [51380041013],
                "campaign_id": [1],
                "redemption_date": pd.to_datetime(["2017-03-05"]),
            }
        ),
    }
    assert completejourney.touches(raw).to_dict(orient="records") == [
        {
            "user_id": "7",
            "ts": "2017-02-01T00:00:00",
            "channel": "mailer_type_a",
            "campaign": "campaign_2",
            "kind": "send",
        },
        {
            "user_id": "105",
            "ts": "2017-03-03T00:00:00",
            "channel": "mailer_type_b",
            "campaign": "campaign_1",
            "kind": "send",
        },
        {
            "user_id": "105",
            "ts": "2017-03-05T00:00:00",
            "channel": "coupon",
            "campaign": "campaign_1",
            "kind": "click",
        },
    ]


def test_a_touch_naming_a_user_and_a_device_links_them(shop_dir, engine) -> None:
    # The device's later touch (display) is the user's: it is the last touch of their order.
    folder = shop_dir(
        orders="""order_id,user_id,ts,amount
        o1,u1,2026-06-04T10:00:00Z,100""",
        touches="""user_id,device_id,ts,channel
        u1,d1,2026-06-01T10:00:00Z,email
        ,d1,2026-06-03T10:00:00Z,display""",
    )
    result = run_tagging(engine=engine, options=RunOptions(folder, ID_KEY))
    rows = result.reports["attribution"]["levels"]["channel"]["rows"]
    assert {r["key"]: r["conversions"] for r in rows if r["model"] == LAST} == {
        "email": 0.0,
        "display": 1.0,
    }
    assert result.persons == 1


def test_the_shop_says_which_order_columns_are_touches(tmp_path) -> None:
    settings = tmp_path / "shop.toml"
    settings.write_text('[attribution]\norder_touches = ["coupon_code"]\n')
    assert load_shop(settings).order_touches == ("coupon_code",)
    settings.write_text('[attribution]\norder_touches = ["pay_method"]\n')
    with pytest.raises(InputError) as error:
        load_shop(settings)
    assert str(error.value) == (
        f"{settings}: [attribution] order_touches must list some of "
        "['channel', 'coupon_code'], got ['pay_method']"
    )


def test_marketing_leaves_the_shop_s_own_files_as_they_are(tmp_path) -> None:
    generate_shop(tmp_path / "plain", users=300, seed=3)
    generate_shop(tmp_path / "ads", users=300, seed=3, marketing=True)
    plain = {
        p.relative_to(tmp_path / "plain"): p.read_bytes() for p in (tmp_path / "plain").rglob("*.*")
    }
    ads = {p.relative_to(tmp_path / "ads"): p.read_bytes() for p in (tmp_path / "ads").rglob("*.*")}
    added = {"touches.csv", "shop.toml", "truth/attribution.json"}
    assert {str(p) for p in ads.keys() - plain.keys()} == added
    for path, content in plain.items():
        if str(path) == "orders.csv":  # the caused orders come after the shop's own
            assert ads[path].startswith(content) and len(ads[path]) > len(content)
        else:
            assert ads[path] == content, path
