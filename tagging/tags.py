"""Tag rules: the feature table in, one long table out (person_idx, key, value, score).

Each built-in tag family is a small function returning rows of that long shape; the
catalog's rule tags are compiled from TOML by `tagging.catalog_rules`. Definitions of every key
(kind, description, values) are in `tagging.catalog.BUILT_IN`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from tagging import features
from tagging.catalog import BUILT_IN
from tagging.catalog_rules import CatalogRule, compile_when
from tagging.identity import PERSON as P
from tagging.parsing import tag_text

TAG_SCHEMA = ibis.schema({P: "int64", "key": "string", "value": "string", "score": "float64"})
PREFERRED_CATEGORIES = 3  # preferred_category: a person's top 3 categories
# A key without a fixed value set lists at most this many of the values a run found.
MAX_LISTED_VALUES = 1_000


@dataclass(frozen=True)
class LifecycleParams:
    new_days: int = 30
    active_days: int = 60
    churn_risk_days: int = 120
    dormant_days: int = 240
    reactivated_gap_days: int = 90


def snake_rows(
    table: ir.Table, key: str, value: ir.StringValue, score: ir.Value | None = None
) -> ir.Table:
    """Tag rows `key:tag_text(value)` (any script: 'East China' -> 'east_china', '母婴' stays),
    with `tag_text` run once per distinct value and joined back: in a 100k run the regexes ran
    on every row, 0.9 s of CPU for a few hundred values. The names are an aggregate's output:
    made in a plain projection, DuckDB copied their expression into the test for NULL that
    `rows` makes after the join, and ran the regexes on every row again (0.5 s of the 100k
    run's 3.4 s of tags)."""
    named = table.select(P, _raw=value, _score=ibis.null("float64") if score is None else score)
    values = named.select("_raw").distinct()
    names = values.group_by("_raw").agg(_name=tag_text(values._raw).max())
    joined = named.inner_join(names, "_raw")
    return rows(joined, key, joined._name, joined._score)


def rows(table: ir.Table, key: str, value: ir.Value, score: ir.Value | None = None) -> ir.Table:
    """Tag rows `key:value` for every row of `table` whose value is set."""
    out = table.select(
        P,
        key=ibis.literal(key),
        value=value.cast("string"),
        score=(ibis.null("float64") if score is None else score.cast("float64")),
    )
    return out.filter(out.value.notnull())


def age_band(age: ir.NumericValue) -> ir.StringValue:
    return ibis.cases(
        (age < 18, "under_18"),
        (age < 25, "18_24"),
        (age < 35, "25_34"),
        (age < 45, "35_44"),
        (age < 55, "45_54"),
        (age >= 55, "55_plus"),
        else_=ibis.null("string"),
    )


def demographic_tags(people: ir.Table) -> list[ir.Table]:
    """age_band, gender, region, city, member_level from the primary account's attributes
    (gender is read in the shop's spellings by cleaning)."""
    return [
        rows(people, "age_band", age_band(people.age)),
        rows(people, "gender", people.gender),
        snake_rows(people, "region", people.region),
        snake_rows(people, "city", people.city),
        snake_rows(people, "member_level", people.member_level),
    ]


def rfm_tags(f: ir.Table) -> list[ir.Table]:
    """Quintile scores, the raw R/F/M numbers and the RFM segment, for buyers."""
    buyers = f.filter(f.frequency.notnull())
    r, fq, m = buyers.r_score, buyers.f_score, buyers.m_score
    segment = ibis.cases(
        ((r >= 4) & (fq >= 4) & (m >= 4), "high_value"),
        ((r <= 2) & (fq >= 4) & (m >= 4), "cant_lose"),
        ((r <= 2) & (fq >= 3), "at_risk"),
        (r <= 2, "hibernating"),
        (fq >= 4, "loyal"),
        ((buyers.frequency == 1) & (r >= 4), "new_customer"),
        (r >= 3, "potential"),
        else_="need_attention",
    )
    return [
        rows(buyers, "rfm_r", r, r),
        rows(buyers, "rfm_f", fq, fq),
        rows(buyers, "rfm_m", m, m),
        rows(buyers, "rfm_segment", segment),
        rows(buyers, "recency_days", buyers.recency_days, buyers.recency_days),
        rows(buyers, "frequency", buyers.frequency, buyers.frequency),
        rows(buyers, "monetary", buyers.monetary.round(2), buyers.monetary),
    ]


def lifecycle_tags(f: ir.Table, params: LifecycleParams) -> list[ir.Table]:
    recency = f.recency_days
    stage = ibis.cases(
        (f.frequency.isnull() & (f.tenure_days <= params.new_days), "new"),
        (f.frequency.isnull(), "prospect"),
        (f.first_order_days <= params.new_days, "new"),
        (
            (recency <= params.new_days) & (f.last_gap_days > params.reactivated_gap_days),
            "reactivated",
        ),
        (recency <= params.active_days, "active"),
        (recency <= params.churn_risk_days, "churn_risk"),
        (recency <= params.dormant_days, "dormant"),
        else_="lost",
    )
    return [rows(f, "lifecycle", stage)]


def value_tags(f: ir.Table) -> list[ir.Table]:
    """aov_band and cart_abandoner."""
    band = ibis.cases(
        (f.aov_rank <= 0.25, "low"),
        (f.aov_rank <= 0.75, "mid"),
        (f.aov_rank <= 0.95, "high"),
        (f.aov_rank.notnull(), "premium"),
        else_=ibis.null("string"),
    )
    return [rows(f, "aov_band", band), *cart_abandoner_tags(f)]


def cart_abandoner_tags(f: ir.Table) -> list[ir.Table]:
    """cart_abandoner: two or more items carted, half of them or more never bought."""
    abandoner = f.filter((f.carted_items >= 2) & (f.cart_abandon_rate >= 0.5))
    return [rows(abandoner, "cart_abandoner", ibis.literal("yes"), abandoner.cart_abandon_rate)]


def top_values(weights: ir.Table, column: str, key: str, n: int) -> ir.Table:
    """The n strongest values of a preference table as tags scored by their share."""
    ranked = weights.mutate(
        _rank=ibis.row_number().over(
            group_by=P, order_by=[ibis.desc(weights.weight), weights[column]]
        )
    )
    top = ranked.filter(ranked._rank < n)
    return snake_rows(top, key, top[column], top.share.round(4))


def mode_tag(modes: ir.Table, key: str) -> ir.Table:
    return snake_rows(modes, key, modes.value, modes.share.round(4))


def catalog_tags(f: ir.Table, rules: list[CatalogRule], *, source: str) -> list[ir.Table]:
    out = []
    for rule in rules:
        where = f"{source}: tag {rule.definition.key!r}"
        value = ibis.cases(
            *((compile_when(when, f, where=where), v) for v, when in rule.cases),
            else_=ibis.null("string"),
        )
        out.append(rows(f, rule.definition.key, value))
    return out


def band(score: ir.FloatingValue) -> ir.StringValue:
    """low below 1/3, mid below 2/3, high from 2/3: the band of a score in [0, 1]."""
    return ibis.cases((score >= 2 / 3, "high"), (score >= 1 / 3, "mid"), else_="low")


def _scored(table: ir.Table, key: str, score: ir.FloatingValue) -> ir.Table:
    clipped = ibis.greatest(ibis.least(score, 1.0), 0.0)
    scored = table.mutate(_score=clipped.round(4))
    return rows(scored, key, band(scored._score), scored._score)


def psychographic_tags(f: ir.Table) -> list[ir.Table]:
    """brand_loyalty, price_sensitivity, promo_affinity, social_sharer, novelty_seeker."""
    buyers = f.filter(f.frequency.notnull())
    repeat = buyers.filter((buyers.frequency >= 2) & (buyers.units_bought > 0))
    loyal = repeat.filter(repeat.top_brand_spend_share.notnull())
    cheapness = (1 - buyers.price_index / 2).fill_null(0.5)
    browsers = f.filter(f.events > 0)
    browsers = browsers.mutate(_rate=(browsers.shares + browsers.reviews) / browsers.events)
    sharers = browsers.filter(browsers._rate > 0)
    return [
        _scored(loyal, "brand_loyalty", loyal.top_brand_spend_share),
        _scored(buyers, "price_sensitivity", (buyers.discount_order_share + cheapness) / 2),
        _scored(buyers, "promo_affinity", buyers.coupon_order_share),
        _scored(sharers, "social_sharer", ibis.cume_dist().over(order_by=sharers._rate)),
        _scored(repeat, "novelty_seeker", repeat.brands_bought.fill_null(0) / repeat.units_bought),
    ]


def value_segment_tags(f: ir.Table, params: LifecycleParams) -> list[ir.Table]:
    """The four core value segments, from RFM scores and the lifecycle's day limits."""
    buyers = f.filter(f.frequency.notnull())
    r, fq, m = buyers.r_score, buyers.f_score, buyers.m_score
    segment = ibis.cases(
        (buyers.first_order_days <= params.new_days, "new"),
        ((r >= 4) & (fq >= 4) & (m >= 4), "high_value_loyal"),
        (
            (buyers.recency_days > params.active_days) & ((fq >= 3) | (m >= 3)),
            "churn_warning",
        ),
        (buyers.recency_days <= params.active_days, "potential_growth"),
        else_=ibis.null("string"),
    )
    return [rows(buyers, "value_segment", segment)]


def base_tags(
    wide: ir.Table,
    t: dict[str, ir.Table],
    *,
    lifecycle: LifecycleParams,
    rules: list[CatalogRule],
    catalog: str,
) -> list[ir.Table]:
    """Every tag of a run but the models' and the personas' (which are named by these): from
    the feature table `wide` and the run's person tables `t` (orders, items; events and people
    when the shop has them). `catalog` names the rules' file in their errors."""
    orders = t["orders"]
    parts = [
        *rfm_tags(wide),
        *lifecycle_tags(wide, lifecycle),
        *value_tags(wide),
        *psychographic_tags(wide),
        *value_segment_tags(wide, lifecycle),
        mode_tag(features.mode_share(orders, features.time_slot(orders.ts)), "purchase_time_slot"),
        mode_tag(features.mode_share(orders, orders.channel), "primary_channel"),
        *catalog_tags(wide, rules, source=catalog),
    ]
    if "people" in t:
        parts += demographic_tags(t["people"])
    for column, key, n in (
        ("category", "preferred_category", PREFERRED_CATEGORIES),
        ("brand", "preferred_brand", 1),
    ):
        # The category weights are kept by the features stage (the shopping file reads them).
        weights = t.get(f"{column}_weights")
        if weights is None:
            weights = features.preference_weights(t.get("events"), t["items"], column)
        parts.append(top_values(weights, column, key, n))
    if "events" in t:
        # Each person's events counted by platform and os before they are classed: the
        # class's string tests on every event took most of the tag's 0.5 s at 100k.
        e = t["events"]
        seen = e.group_by([P, "platform", "os"]).agg(_n=e.count())
        device = features.device_class(seen.platform, seen.os)
        parts.append(mode_tag(features.mode_share(seen, device, rows=seen._n), "primary_device"))
    return parts


def score_tags(scores: ir.Table) -> list[ir.Table]:
    """The model scores (probabilities) as tags, the value being the score's band."""
    return [
        _scored(scores.filter(scores[key].notnull()), key, scores[key])
        for key in ("churn_risk", "repurchase_30d")
        if key in scores.columns
    ]


def definitions(tag_table: ir.Table, rules: list[CatalogRule]) -> list[dict[str, Any]]:
    """The catalog's keys (built in, then the rules'), as the store keeps them; a key without
    fixed values lists the values the run found in `tag_table` (up to MAX_LISTED_VALUES), so
    that a mistyped value in an audience is caught, not counted 0."""
    rows = [d.as_row() for d in BUILT_IN] + [r.definition.as_row() for r in rules]
    open_keys = [r["key"] for r in rows if not r["values"] and r["value_type"] != "number"]
    found = (
        tag_table.filter(tag_table.key.isin(open_keys))
        .group_by("key")
        .aggregate(
            values=tag_table.value.collect(distinct=True, order_by=tag_table.value),
            n=tag_table.value.nunique(),
        )
        .to_pyarrow()
        .to_pylist()
    )
    listed = {f["key"]: f["values"] for f in found if f["n"] <= MAX_LISTED_VALUES}
    return [{**r, "values": listed.get(r["key"], r["values"])} for r in rows]
