"""Personas: K-Means over the buyers' standardised features, named by their tags.

The features say how a person buys: the share of their spend in each category, when they
order (time of day, weekends), how much they lean on coupons and low prices, brand
concentration, how often, how much and how long ago (those three on a log scale). k is the
one with the best silhouette in a range (on a sample: silhouette is quadratic) unless given.
Each persona is then named and described by its most distinguishing tags: the tag values
whose share inside the persona most exceeds their share among all buyers (lift).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from tagging.features import money_sum
from tagging.identity import PERSON as P
from tagging.identity import Materialise
from tagging.ingest import memtable

HABITS = [
    "morning_order_share",
    "afternoon_order_share",
    "evening_order_share",
    "night_order_share",
    "weekend_order_share",
    "coupon_order_share",
    "discount_rate",
    "price_index",
    "top_brand_spend_share",
]
LOGGED = ["frequency", "monetary", "recency_days"]
NAME_KEYS = (
    "rfm_segment",
    "aov_band",
    "preferred_category",
    "purchase_time_slot",
    "lifecycle",
    "price_sensitivity",
    "promo_affinity",
    "brand_loyalty",
    "primary_device",
    "age_band",
    "gender",
    "member_level",
)
BANDED = {"price_sensitivity", "promo_affinity", "brand_loyalty"}  # values low / mid / high
MIN_TAG_SHARE = 0.3  # a tag names a persona only if this share of its members has it
TOP_TAGS = 5
MAX_CATEGORIES = 20
# Categories that are not merchandise: what a buyer's share of spend on them says is how the
# till books coupons, fuel and fees, not what they like. Matched as words of the category's
# name (any case), or inside it for words in scripts written without spaces.
NON_MERCHANDISE = (
    "coupon",
    "coupons",
    "fuel",
    "gasoline",
    "fee",
    "fees",
    "deposit",
    "deposits",
    "postage",
    "shipping",
    "delivery",
    "tax",
    "gift card",
    "优惠券",
    "运费",
    "赠品",
)


@dataclass(frozen=True)
class PersonaParams:
    k: int | None = None  # None: chosen by silhouette in k_range
    k_range: tuple[int, int] = (3, 8)
    silhouette_sample: int = 5_000
    # A k whose smallest persona holds less than this share of the buyers is not chosen: a
    # persona of a handful of buyers is an outlier, not a kind of buyer.
    min_share: float = 0.03
    # A tag names a persona only if its share inside is this many times its share overall.
    min_name_lift: float = 1.5
    exclude_categories: tuple[str, ...] = NON_MERCHANDISE
    seed: int = 7

    def __post_init__(self) -> None:
        low, high = self.k_range
        if not 2 <= low <= high:
            raise ValueError(
                f"k_range must be (low, high) with 2 <= low <= high, got {self.k_range!r}"
            )
        if self.k is not None and self.k < 2:
            raise ValueError(f"k must be 2 or more, got {self.k!r}")
        if not 0 <= self.min_share < 1 / high:
            raise ValueError(
                f"min_share must be in [0, 1/{high}) for k up to {high}, got {self.min_share!r}"
            )
        if self.min_name_lift < 1:
            raise ValueError(f"min_name_lift must be 1 or more, got {self.min_name_lift!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_excluded(category: str, terms: tuple[str, ...]) -> bool:
    """Whether `category` is one of the non-merchandise ones `terms` name (NON_MERCHANDISE)."""
    words = " ".join(re.findall(r"[^\W_]+", category.lower()))
    for term in terms:
        term = term.lower()
        if term.isascii():
            if re.search(rf"(?<!\S){re.escape(term)}(?!\S)", words):
                return True
        elif term in category:
            return True
    return False


@dataclass(frozen=True)
class Clusters:
    persons: np.ndarray  # person_idx of every buyer clustered
    labels: np.ndarray  # their persona, 0..k-1, 0 the largest
    k: int
    silhouettes: dict[int, float]  # k -> silhouette on the sample (empty when k was given)
    centroids: pd.DataFrame  # one row per persona, features in their own units
    report: dict[str, Any] = field(default_factory=dict)


def buying_features(
    wide: ir.Table, items: ir.Table, params: PersonaParams | None = None
) -> pd.DataFrame:
    """person_idx and the clustering features of every buyer, missing values as 0: the shares
    are of the spend on merchandise (categories `params.exclude_categories` do not name)."""
    terms = (params or PersonaParams()).exclude_categories
    spend = items.filter(items.category.notnull()).mutate(_spend=items.price * items.quantity)
    top = spend.group_by("category").aggregate(s=money_sum(spend._spend))
    every = top.order_by([ibis.desc("s"), "category"]).category.to_pyarrow().to_pylist()
    excluded = [str(c) for c in every if is_excluded(str(c), terms)]
    merchandise = [str(c) for c in every if not is_excluded(str(c), terms)]
    names = sorted(merchandise[:MAX_CATEGORIES])
    spend = spend.filter(~spend.category.isin(excluded)) if excluded else spend
    by_person = spend.group_by(P).aggregate(
        _total=money_sum(spend._spend),
        **{f"cat_{_slug(c)}": money_sum(spend._spend, spend.category == c) for c in names},
    )
    shares = by_person.mutate(
        **{f"cat_{_slug(c)}": by_person[f"cat_{_slug(c)}"] / by_person._total for c in names}
    ).drop("_total")
    buyers = wide.filter(wide.frequency.notnull()).select(P, *HABITS, *LOGGED)
    frame = buyers.left_join(shares, P).drop(f"{P}_right").order_by(P).to_pyarrow().to_pandas()
    return frame.fillna(0.0)


def cluster(frame: pd.DataFrame, params: PersonaParams) -> Clusters | None:
    """K-Means personas of the buyers in `frame`; None when there are too few to cluster."""
    low, high = params.k_range
    if len(frame) < max(3 * high, 30):
        return None
    columns = [c for c in frame.columns if c != P]
    values = frame[columns].to_numpy(dtype=np.float64)
    logged = [columns.index(c) for c in LOGGED]
    values[:, logged] = np.log1p(np.clip(values[:, logged], 0, None))
    scaled = StandardScaler().fit_transform(values)
    silhouettes: dict[int, float] = {}
    smallest: dict[int, float] = {}  # k -> the smallest persona's share of the sample
    k = params.k
    if k is None:
        rng = np.random.default_rng(params.seed)
        sample = rng.choice(len(scaled), min(params.silhouette_sample, len(scaled)), replace=False)
        centres: dict[int, np.ndarray] = {}
        for candidate in range(low, high + 1):
            fitted = _kmeans(candidate, params).fit(scaled[sample])
            centres[candidate] = fitted.cluster_centers_
            silhouettes[candidate] = round(
                float(silhouette_score(scaled[sample], fitted.labels_)), 4
            )
            sizes = np.bincount(fitted.labels_, minlength=candidate)
            smallest[candidate] = round(float(sizes.min() / len(sample)), 4)
        k = _best_k(silhouettes, smallest, params.min_share)
        # The best of the sample's 10 starts is refined on every buyer, instead of 10 new
        # starts on all of them (100k shop: 1.7 s -> 0.2 s; the same personas but for a few
        # buyers on a border, adjusted Rand index 0.9999).
        final = KMeans(n_clusters=k, init=centres[k], n_init=1, random_state=params.seed)
    else:
        final = _kmeans(k, params)
    labels = _by_size(final.fit_predict(scaled), k)
    raw = pd.DataFrame(frame[columns].to_numpy(dtype=np.float64), columns=columns)
    centroids = raw.groupby(labels).mean().round(4)
    return Clusters(
        persons=frame[P].to_numpy(),
        labels=labels,
        k=k,
        silhouettes=silhouettes,
        centroids=centroids,
        report={"smallest_share": smallest, "min_share": params.min_share},
    )


def _best_k(silhouettes: dict[int, float], smallest: dict[int, float], min_share: float) -> int:
    """The k of the best silhouette (the fewer personas on a tie) among those whose smallest
    persona holds `min_share` of the buyers; the fewest personas when none does."""
    fits = [k for k in silhouettes if smallest[k] >= min_share]
    if not fits:
        return min(silhouettes)
    return max(fits, key=lambda c: (silhouettes[c], -c))


def _by_size(labels: np.ndarray, k: int) -> np.ndarray:
    """`labels` renumbered so that 0 is the largest cluster, 1 the next, and so on (ties in
    K-Means' order): K-Means' own numbering follows its starting centres, which can shuffle from
    one run to the next when the data moves a little."""
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=labels.dtype)
    rank[order] = np.arange(k, dtype=labels.dtype)
    return rank[labels]


def _kmeans(k: int, params: PersonaParams) -> KMeans:
    return KMeans(n_clusters=k, n_init=10, random_state=params.seed)


def describe(
    clusters: Clusters, tags: ir.Table, members: ir.Table, params: PersonaParams | None = None
) -> pd.DataFrame:
    """One row per persona: persona_id, name, description, size, share, top_tags, centroid.

    `members` is the table of (person_idx, persona) the clusters were written to. A tag is
    among a persona's top tags when at least MIN_TAG_SHARE of its members have it and it is
    `params.min_name_lift` times as common inside as among all buyers; preferred categories
    that are not merchandise never are.
    """
    params = params or PersonaParams()
    wanted = tags.filter(tags.key.isin(NAME_KEYS))
    tagged = wanted.join(members, P)
    inside = tagged.group_by(["persona", "key", "value"]).aggregate(n=tagged[P].nunique())
    overall = tagged.group_by(["key", "value"]).aggregate(total=tagged[P].nunique())
    counts = inside.join(overall, ["key", "value"]).to_pyarrow().to_pandas()
    sizes = np.bincount(clusters.labels, minlength=clusters.k)
    buyers = len(clusters.labels)
    counts["share"] = counts.n / sizes[counts.persona.to_numpy()]
    counts["lift"] = counts.share / (counts.total / buyers)
    rows = []
    used: set[str] = set()
    excluded = counts.value.map(lambda v: is_excluded(str(v), params.exclude_categories))
    counts = counts[~((counts.key == "preferred_category") & excluded)]
    for persona in range(clusters.k):
        mine = counts[
            (counts.persona == persona)
            & (counts.share >= MIN_TAG_SHARE)
            & (counts.lift >= params.min_name_lift)
        ]
        mine = mine.sort_values(
            ["lift", "share", "key", "value"], ascending=[False, False, True, True]
        )
        top = mine.head(TOP_TAGS)
        name = _unique(_name(top), used)
        rows.append(
            {
                "persona_id": persona + 1,
                "name": name,
                "description": _description(top, int(sizes[persona]), buyers),
                "size": int(sizes[persona]),
                "share": round(float(sizes[persona]) / buyers, 4),
                "top_tags": [
                    {
                        "key": t.key,
                        "value": t.value,
                        "share": round(t.share, 4),
                        "lift": round(t.lift, 2),
                    }
                    for t in top.itertuples()
                ],
                "centroid": clusters.centroids.loc[persona].to_dict(),
            }
        )
    return pd.DataFrame(rows)


def named(
    frame: pd.DataFrame,
    found: Clusters | None,
    base: ir.Table,
    *,
    materialise: Materialise,
    params: PersonaParams | None = None,
) -> tuple[pd.DataFrame, ir.Table, dict[str, Any]]:
    """The buyers' personas (`found` by `cluster` from `frame`) described and named by their
    tags in `base`; each member's persona tag; the report of the clustering."""
    no_tags = base.filter(ibis.literal(False))
    if found is None:
        note = f"{len(frame)} buyers are too few to cluster"
        return pd.DataFrame(), no_tags, {"buyers": len(frame), "note": note}
    members = materialise(
        "persona_members", memtable(pd.DataFrame({P: found.persons, "persona": found.labels + 1}))
    )
    described = describe(found, base, members.mutate(persona=members.persona - 1), params)
    names = described[["persona_id", "name"]].rename(columns={"persona_id": "persona"})
    with_names = members.join(materialise("persona_names", memtable(names)), "persona")
    persona_tags = with_names.select(
        P, key=ibis.literal("persona"), value=with_names.name, score=ibis.null("float64")
    )
    report = {
        "buyers": len(frame),
        "k": found.k,
        "silhouettes": found.silhouettes,
        **found.report,
        # What each name rests on: the (at most two) tags it is made of, with their lifts.
        "personas": [
            {"name": name, "size": size, "share": share, "named_by": list(top)[:2]}
            for name, size, share, top in zip(
                described.name, described["size"], described.share, described.top_tags, strict=True
            )
        ],
    }
    return described, persona_tags, report


def _name(top: pd.DataFrame) -> str:
    """The persona's two most distinguishing tags as words, e.g. 'evening_baby' or
    'price_sensitivity_promo_affinity' (a high band says its key; another band, both)."""
    words = []
    for key, value in zip(top.key.head(2), top.value.head(2), strict=True):
        key, value = str(key), str(value)
        if key in BANDED:
            words.append(key if value == "high" else f"{value}_{key}")
        else:
            words.append(value)
    return "_".join(words) if words else "everyday_buyers"


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}_{n}", n + 1
    used.add(candidate)
    return candidate


def _description(top: pd.DataFrame, size: int, buyers: int) -> str:
    traits = ", ".join(
        f"{t.key} {t.value} ({t.share:.0%}, {t.lift:.1f}x)" for t in top.itertuples()
    )
    share = size / buyers if buyers else 0.0
    known = f"; most distinguishing: {traits}" if traits else ""
    return f"{size:,} buyers ({share:.1%}){known}"


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
