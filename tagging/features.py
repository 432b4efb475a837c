"""Per-person features, in Ibis: the same expressions run on DuckDB here and on Spark later.

Inputs are the clean tables with a `person_idx` column (made by `tagging.run.pipeline`); every
function returns an Ibis table with one row per person (or per person and category / brand for
the preference tables). Times are the shop's wall clock (`tagging.parsing`); `as_of` bounds
everything.
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from tagging.identity import PERSON as P
from tagging.ingest import empty_table

# Weight of one event of each type when judging which categories and brands a person prefers;
# a purchased unit counts as PURCHASE_WEIGHT.
EVENT_WEIGHTS = {"view": 1, "click": 1, "add_to_cart": 3, "share": 2, "review": 2}
PURCHASE_WEIGHT = 5
# Features that need events or users; in orders-only mode they exist but stay empty.
EVENT_FEATURES = (
    "events",
    "views",
    "searches",
    "carts",
    "shares",
    "reviews",
    "app_share",
    "days_since_last_event",
    "categories_browsed",
    "search_share",
    "carted_items",
    "cart_abandon_rate",
)
USER_FEATURES = ("age", "tenure_days")
TIME_SLOTS = {  # hour ranges on the shop's clock (tagging.parsing), inclusive
    "night": (23, 5),
    "morning": (6, 11),
    "afternoon": (12, 17),
    "evening": (18, 22),
}
MONEY = "decimal(38, 6)"  # amounts are summed exactly at this precision (money_sum)
RATIO = "decimal(38, 12)"  # and ratios averaged
# Features are stored rounded to this many decimals.
STORED_DIGITS = 6


def money_sum(value: ir.NumericValue, where: ir.BooleanValue | None = None) -> ir.FloatingValue:
    """The sum of amounts of money, the same in every run: DuckDB adds floats in whatever order
    its threads meet them, so a float sum could differ in its last bits from run to run (and
    an average rounded to cents by a cent, and the models trained on it). Decimals add exactly.
    """
    return value.cast(MONEY).sum(where=where).cast("float64")


def days_before(as_of: datetime, ts: ir.TimestampValue) -> ir.IntegerValue:
    """Calendar days from the day of `ts` to the day of `as_of`."""
    return ibis.literal(as_of.date()).delta(ts.date(), unit="day")


def order_features(orders: ir.Table, *, as_of: datetime) -> ir.Table:
    """frequency, monetary, recency_days and the other order-level habits of each person."""
    o = orders.mutate(
        _discounted=(orders.discount > 0) | orders.coupon_code.notnull(),
        _weekend=orders.ts.day_of_week.index() >= 5,
        _gap=days_before(as_of, orders.ts),
    )
    per_person = o.group_by(P).agg(
        # Cleaning keeps one row per order id (duplicate_order_id), so counting rows counts
        # orders, without a distinct count's hash table of every order id.
        frequency=o.count(),
        monetary=money_sum(o.amount),
        recency_days=o._gap.min(),
        first_order_days=o._gap.max(),
        discount_order_share=o._discounted.mean(),
        coupon_order_share=o.coupon_code.notnull().mean(),
        discount_rate=(
            money_sum(o.discount) / (money_sum(o.amount) + money_sum(o.discount)).nullif(0)
        ),
        weekend_order_share=o._weekend.mean(),
        orders_30d=(o._gap < 30).sum(),
        **{f"{slot}_order_share": _in_slot(o.ts, slot).mean() for slot in TIME_SLOTS},
    )
    # The days since the order before the latest: the latest's again when two orders share
    # the latest day, else the fewest days of the orders before it. Numbering the orders by
    # time for the second one was a third of the query (0.1 s of 0.42 s at 100k users).
    o = o.join(per_person.select(P, _latest=per_person.recency_days), P)
    ties = o.group_by(P).agg(
        _ties=(o._gap == o._latest).sum(),
        _before=o._gap.min(where=o._gap > o._latest),
    )
    f = per_person.join(ties, P)
    previous = ibis.ifelse(f._ties >= 2, f.recency_days, f._before)
    return f.mutate(
        orders=f.frequency,
        monetary=f.monetary.round(2),
        aov=(f.monetary / f.frequency).round(2),
        last_gap_days=previous - f.recency_days,
    ).drop("_ties", "_before")


def _in_slot(ts: ir.TimestampValue, slot: str) -> ir.BooleanValue:
    start, end = TIME_SLOTS[slot]
    hour = ts.hour()
    if start <= end:
        return hour.between(start, end)
    return (hour >= start) | (hour <= end)


def time_slot(ts: ir.TimestampValue) -> ir.StringValue:
    return ibis.cases(*((_in_slot(ts, slot), slot) for slot in TIME_SLOTS), else_="night")


def with_rfm_scores(orders: ir.Table) -> ir.Table:
    """`orders` (order_features) with the R, F, M quintile scores 1-5 (5 best) among buyers,
    and `aov_rank`.

    score = 1 + floor(5 * percent_rank), capped at 5: equal values share the lower score, so
    one order is F=1 however many buyers have only one. Added to the order features rather
    than joined to them: a join read them twice, and DuckDB worked them out twice.
    """

    def score(rank: ir.FloatingValue) -> ir.IntegerValue:
        return ibis.least((rank * 5).floor().cast("int64") + 1, 5)

    return orders.mutate(
        r_score=score(ibis.percent_rank().over(order_by=ibis.desc(orders.recency_days))),
        f_score=score(ibis.percent_rank().over(order_by=orders.frequency)),
        m_score=score(ibis.percent_rank().over(order_by=orders.monetary)),
        aov_rank=ibis.cume_dist().over(order_by=orders.aov),
    )


def event_features(events: ir.Table, items: ir.Table, *, as_of: datetime) -> ir.Table:
    """Browsing habits: counts by event type, search share, cart abandonment, app share."""
    e = events
    per_person = e.group_by(P).agg(
        events=e.count(),
        views=(e.event_type == "view").sum(),
        searches=(e.event_type == "search").sum(),
        carts=(e.event_type == "add_to_cart").sum(),
        shares=(e.event_type == "share").sum(),
        reviews=(e.event_type == "review").sum(),
        app_share=(e.platform == "app").mean(),
        _last_event=e.ts.max(),
    )
    # Each person's categories counted from the distinct (person, category) pairs: a distinct
    # count inside the grouping above kept a set per person, and that grouping was the
    # features query's largest step at 1M users (8.6 s of its 50 s of CPU).
    browsed = e.filter(e.category.notnull()).select(P, "category").distinct()
    browsed = browsed.group_by(P).agg(categories_browsed=browsed.count())
    per_person = per_person.left_join(browsed, P).drop(f"{P}_right")
    per_person = per_person.select(
        *(c for c in per_person.columns if c not in ("_last_event", "categories_browsed")),
        days_since_last_event=days_before(as_of, per_person._last_event),
        categories_browsed=per_person.categories_browsed.fill_null(0),
        search_share=per_person.searches / per_person.events,
    )
    return per_person.left_join(_cart_abandonment(events, items), P).drop(f"{P}_right")


def _cart_abandonment(events: ir.Table, items: ir.Table) -> ir.Table:
    carted = events.filter((events.event_type == "add_to_cart") & events.item_id.notnull())
    carted = carted.select(P, "item_id").distinct()
    bought = items.select(P, "item_id").distinct().mutate(_bought=True)
    joined = carted.left_join(bought, [P, "item_id"])
    return joined.group_by(P).agg(
        carted_items=joined.count(),
        cart_abandon_rate=joined._bought.isnull().mean(),
    )


def basket_features(items: ir.Table) -> ir.Table:
    """Spend concentration on brands and breadth of categories bought."""
    spend = items.mutate(_spend=items.price * items.quantity)
    by_brand = (
        spend.filter(spend.brand.notnull()).group_by([P, "brand"]).agg(s=money_sum(spend._spend))
    )
    brand_share = by_brand.group_by(P).agg(
        top_brand_spend_share=by_brand.s.max() / by_brand.s.sum().nullif(0),
        brands_bought=by_brand.brand.nunique(),
    )
    breadth = spend.group_by(P).agg(
        categories_bought=spend.category.nunique(),
        units_bought=spend.quantity.sum(),
        avg_unit_price=(money_sum(spend._spend) / spend.quantity.sum().nullif(0)),
    )
    # Price paid against the category's median price: 1 = typical, 0.5 = half the usual price.
    medians = spend.group_by("category").agg(_median=spend.price.median())
    relative = spend.join(medians, "category")
    relative = relative.mutate(_relative=relative.price / relative._median.nullif(0))
    # Averaged as decimals, for the reason money_sum gives: the same in every run.
    ratio = relative._relative.cast(RATIO).mean().cast("float64")
    price_index = relative.group_by(P).agg(price_index=ratio)
    joined = breadth.left_join(brand_share, P).drop(f"{P}_right")
    return joined.left_join(price_index, P).drop(f"{P}_right")


def device_class(platform: ir.StringValue, os: ir.StringValue) -> ir.StringValue:
    desktop = os.lower().isin(["windows", "macos", "linux"])
    return ibis.cases(
        (platform.lower() == "mini_program", "mini_program"),
        ((platform.lower() == "app"), "mobile_app"),
        ((platform.lower() == "web") & desktop, "desktop_web"),
        (platform.lower() == "web", "mobile_web"),
        else_="other",
    )


def preference_weights(events: ir.Table | None, items: ir.Table, column: str) -> ir.Table:
    """(person_idx, <column>, weight, share): how strongly each person leans to each value
    (from purchases alone where the shop has no `events`)."""
    both = items.filter(items[column].notnull()).select(
        P, column, w=(items.quantity * PURCHASE_WEIGHT).cast("int64")
    )
    if events is not None:
        weight = ibis.cases(
            *((events.event_type == kind, w) for kind, w in EVENT_WEIGHTS.items()), else_=0
        )
        seen = events.filter(events[column].notnull()).select(P, column, w=weight.cast("int64"))
        both = seen.union(both)
    sums = both.group_by([P, column]).agg(weight=both.w.sum())
    sums = sums.filter(sums.weight > 0)
    return sums.mutate(share=sums.weight / sums.weight.sum().over(group_by=P))


def mode_share(
    table: ir.Table, value: ir.StringValue, *, rows: ir.IntegerValue | None = None
) -> ir.Table:
    """(person_idx, value, share): each person's most frequent value and its share of rows
    (`rows`: how many rows each row of `table` stands for, where it counts them already)."""
    t = table.mutate(_v=value, _rows=ibis.literal(1, "int64") if rows is None else rows)
    t = t.filter(t._v.notnull())
    counts = t.group_by([P, "_v"]).agg(n=t._rows.sum().cast("int64"))
    ranked = counts.mutate(
        share=counts.n / counts.n.sum().over(group_by=P),
        _rank=ibis.row_number().over(group_by=P, order_by=[ibis.desc(counts.n), counts._v]),
    )
    top = ranked.filter(ranked._rank == 0)
    return top.select(P, value=top._v, share=top.share)


def demographic_features(users: ir.Table, *, as_of: datetime) -> ir.Table:
    """Age (from birth date, else the given age) and tenure in days, per person."""
    birth_age = ibis.literal(as_of.date()).delta(users.birth_date, unit="year")
    # delta counts year boundaries; subtract one when the birthday has not come yet this year.
    before_birthday = (users.birth_date.month() > as_of.month) | (
        (users.birth_date.month() == as_of.month) & (users.birth_date.day() > as_of.day)
    )
    age = (birth_age - before_birthday.cast("int64")).cast("float64")
    u = users.mutate(
        _age=age.fill_null(users.age),
        _tenure=days_before(as_of, users.registered_at),
    )
    return u.group_by(P).agg(age=u._age.max(), tenure_days=u._tenure.max())


def stored_features(wide: pd.DataFrame) -> pd.DataFrame:
    """person_idx and one float64 column per feature, rounded to STORED_DIGITS decimals (NaN
    where missing): the features as the store takes them, a chunk of persons at a time."""
    names = [c for c in wide.columns if c != P]
    values = rounded(wide[names].astype("float64").to_numpy(), STORED_DIGITS)
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, P, wide[P].to_numpy())
    return frame


def rounded(values: npt.NDArray[np.float64], digits: int) -> npt.NDArray[np.float64]:
    """Python's round(v, digits) of every value, without a Python call per value.

    numpy rounds the scaled value, so it parts from Python's correctly rounded result where the
    scaled value lies within rounding error of a half (an average price of x/32 ends in 5 at the
    7th decimal) or is too large to hold a fraction: those few values are left to Python.
    """
    # Huge values overflow when scaled, and inf - inf is NaN: both end up with Python.
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * 10.0**digits
        result = np.round(values, digits)
        near_half = np.abs(scaled - np.floor(scaled) - 0.5) <= 4 * np.spacing(np.abs(scaled))
        doubtful = near_half | (np.abs(scaled) >= 2.0**52)
    for i in np.flatnonzero(doubtful):
        result.flat[i] = round(float(values.flat[i]), digits)
    return result


def person_features(
    t: dict[str, ir.Table], *, as_of: datetime, ordered: ir.Table | None = None
) -> ir.Table:
    """The wide feature table: one row per person of `t["persons"]`, every feature a column
    (null where the shop lacks the source: events, users). `ordered`: `order_features` of
    `t["orders"]`, where they are worked out already."""
    if ordered is None:
        ordered = order_features(t["orders"], as_of=as_of)
    orders = with_rfm_scores(ordered)
    parts = [orders, basket_features(t["items"])]
    if "events" in t:
        parts.append(event_features(t["events"], t["items"], as_of=as_of))
    if "users" in t:
        parts.append(demographic_features(t["users"], as_of=as_of))
    wide = t["persons"]
    for part in parts:
        wide = wide.left_join(part, P).drop(f"{P}_right")
    for column in (*EVENT_FEATURES, *USER_FEATURES):
        if column not in wide.columns:
            wide = wide.mutate(**{column: ibis.null("float64")})
    return wide


def people(users: ir.Table, wide: ir.Table) -> ir.Table:
    """Each person's primary account (the smallest user id) with the age at as_of from `wide`
    (from the birth date, else the given age) instead of the file's raw age column."""
    first = users.mutate(_n=ibis.row_number().over(group_by=P, order_by=users.user_id))
    first = first.filter(first._n == 0).drop("_n", "age")
    return first.join(wide.select(P, "age"), P)


def person_items(
    items: ir.Table | None, orders: ir.Table, *, products: ir.Table | None
) -> ir.Table:
    """Every kept order line with its order's person; its category and brand, where the line
    has none, from the products file. No order lines (an orders-only shop): none."""
    if items is None:
        return empty_table(
            **{P: "int64"},
            order_id="string",
            item_id="string",
            quantity="int64",
            price="float64",
            category="string",
            brand="string",
        )
    items = items.join(orders.select("order_id", P), "order_id")
    if products is not None:
        products = products.select("item_id", _category=ibis._.category, _brand=ibis._.brand)
        items = items.left_join(products, "item_id")
        items = items.mutate(
            category=items.category.fill_null(items._category),
            brand=items.brand.fill_null(items._brand),
        ).drop("_category", "_brand", "item_id_right")
    return items.select(P, "order_id", "item_id", "quantity", "price", "category", "brand")
