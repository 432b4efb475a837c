"""The tag catalog: every built-in tag key, its kind, description and values.

Analysts' rule tags, read from TOML, are `tagging.catalog_rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

KINDS = (
    "demographic",
    "behavioural",
    "psychographic",
    "predictive",
    "persona",
    "basket",
    "channel",
    "custom",
)
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TagDefinition:
    key: str
    kind: str
    description: str
    value_type: str  # category | score | number | flag
    values: tuple[str, ...] = ()
    source: str = "built_in"

    def as_row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "description": self.description,
            "source": self.source,
            "value_type": self.value_type,
            "values": list(self.values),
        }


BANDS = ("low", "mid", "high")
VALUE_SEGMENTS = ("high_value_loyal", "potential_growth", "churn_warning", "new")
RFM_SEGMENTS = (
    "high_value",
    "loyal",
    "potential",
    "new_customer",
    "need_attention",
    "at_risk",
    "cant_lose",
    "hibernating",
)
LIFECYCLE = ("new", "active", "reactivated", "churn_risk", "dormant", "lost", "prospect")
AGE_BANDS = ("under_18", "18_24", "25_34", "35_44", "45_54", "55_plus")
SLOTS = ("morning", "afternoon", "evening", "night")
DEVICES = ("mobile_app", "mobile_web", "desktop_web", "mini_program", "other")
AOV_BANDS = ("low", "mid", "high", "premium")
SCORES = ("1", "2", "3", "4", "5")

BUILT_IN: tuple[TagDefinition, ...] = (
    TagDefinition(
        "age_band",
        "demographic",
        "Age band at as_of, from birth date or age",
        "category",
        AGE_BANDS,
    ),
    TagDefinition(
        "gender",
        "demographic",
        "Gender as registered (female, male, other)",
        "category",
        ("female", "male", "other"),
    ),
    TagDefinition("region", "demographic", "Region of the primary account", "category"),
    TagDefinition("city", "demographic", "City of the primary account", "category"),
    TagDefinition(
        "member_level", "demographic", "Membership level of the primary account", "category"
    ),
    TagDefinition(
        "rfm_r", "behavioural", "Recency quintile score, 5 = most recent buyers", "score", SCORES
    ),
    TagDefinition(
        "rfm_f", "behavioural", "Frequency quintile score, 5 = most orders", "score", SCORES
    ),
    TagDefinition(
        "rfm_m", "behavioural", "Monetary quintile score, 5 = highest spend", "score", SCORES
    ),
    TagDefinition(
        "rfm_segment",
        "behavioural",
        "RFM segment: high_value R,F,M>=4; cant_lose R<=2,F>=4,M>=4; at_risk R<=2,F>=3; "
        "hibernating R<=2; loyal F>=4; new_customer one order and R>=4; potential R>=3; "
        "else need_attention",
        "category",
        RFM_SEGMENTS,
    ),
    TagDefinition("recency_days", "behavioural", "Days from the last order to as_of", "number"),
    TagDefinition("frequency", "behavioural", "Number of orders up to as_of", "number"),
    TagDefinition("monetary", "behavioural", "Sum of order amounts up to as_of", "number"),
    TagDefinition(
        "lifecycle",
        "behavioural",
        "new: first order within 30 days; reactivated: ordered within 30 days after a "
        "gap over 90; active: last order within 60 days; churn_risk: 61-120; "
        "dormant: 121-240; lost: over 240; prospect: never ordered",
        "category",
        LIFECYCLE,
    ),
    TagDefinition(
        "preferred_category",
        "behavioural",
        "Top 3 categories by weighted views, carts and purchases; score = share",
        "category",
    ),
    TagDefinition(
        "preferred_brand",
        "behavioural",
        "Top brand by weighted views, carts and purchases; score = share",
        "category",
    ),
    TagDefinition(
        "purchase_time_slot",
        "behavioural",
        "When the person usually orders (UTC): morning 6-11, afternoon 12-17, "
        "evening 18-22, night 23-5; score = share of orders",
        "category",
        SLOTS,
    ),
    TagDefinition(
        "primary_device",
        "behavioural",
        "Most used device class in events; score = share",
        "category",
        DEVICES,
    ),
    TagDefinition(
        "primary_channel", "behavioural", "Most used order channel; score = share", "category"
    ),
    TagDefinition(
        "aov_band",
        "behavioural",
        "Average order value among buyers: low <= 25th percentile, mid <= 75th, "
        "high <= 95th, premium above",
        "category",
        AOV_BANDS,
    ),
    TagDefinition(
        "cart_abandoner",
        "behavioural",
        "Carted 2+ distinct items and never bought at least half of them; "
        "score = share never bought",
        "flag",
        ("yes",),
    ),
    TagDefinition(
        "brand_loyalty",
        "psychographic",
        "Share of spend on the person's top brand (2+ orders); value = band of the score: "
        "low < 1/3 <= mid < 2/3 <= high",
        "score",
        BANDS,
    ),
    TagDefinition(
        "price_sensitivity",
        "psychographic",
        "Mean of the share of discounted orders and of cheapness = 1 - (price paid / the "
        "category's median price) / 2, clipped to [0, 1]; bands as brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "promo_affinity",
        "psychographic",
        "Share of orders with a coupon; bands as brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "social_sharer",
        "psychographic",
        "Among persons who share or review at all: the rank (cume_dist) of their shares and "
        "reviews per event; bands as brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "novelty_seeker",
        "psychographic",
        "Distinct brands per unit bought (2+ orders): how much the person tries new brands; "
        "bands as brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "churn_risk",
        "predictive",
        "Probability of no order in the next 90 days (gradient boosting trained on the run's "
        "own history, held-out AUC in the run's report); bands as brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "repurchase_30d",
        "predictive",
        "Probability of an order in the next 30 days (trained as churn_risk); bands as "
        "brand_loyalty",
        "score",
        BANDS,
    ),
    TagDefinition(
        "value_segment",
        "behavioural",
        "new: first order within 30 days; high_value_loyal: R, F, M >= 4; churn_warning: no "
        "order for over 60 days and F or M >= 3; potential_growth: the other buyers who "
        "ordered within 60 days",
        "category",
        VALUE_SEGMENTS,
    ),
    TagDefinition(
        "persona",
        "persona",
        "The K-Means persona of a buyer, named by its most distinguishing tags (see personas)",
        "category",
    ),
    TagDefinition(
        "likely_next_category",
        "basket",
        "The category the basket rules most expect next from the categories of the person's "
        "recent orders, among those not in them; score = confidence - the category's base rate",
        "category",
    ),
)
