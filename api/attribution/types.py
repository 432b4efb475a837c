"""GraphQL types of marketing attribution."""

from __future__ import annotations

import math
from enum import Enum
from typing import Annotated, Any

import strawberry

from api.counts import HIDDEN, CountRange, Disclosure
from tagging.attribution.answer import Answer


@strawberry.enum(description="How credit for an order is divided among the touches before it.")
class AttributionModel(Enum):
    LAST_TOUCH = "last_touch"
    FIRST_TOUCH = "first_touch"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    POSITION_BASED = "position_based"
    MARKOV = "markov"
    SHAPLEY = "shapley"


@strawberry.enum(description="What credit is given to: touches' channels or their campaigns.")
class AttributionLevel(Enum):
    CHANNEL = "channel"
    CAMPAIGN = "campaign"


CONVERTERS_HIDDEN = "Null when the persons who converted through it are hidden (convertersRange)."


@strawberry.type(description="The credit one channel or campaign earned under the model.")
class AttributionCredit:
    key: str = strawberry.field(description="The channel or campaign.")
    conversions: float | None = strawberry.field(
        description="Orders credited (fractions of orders). " + CONVERTERS_HIDDEN
    )
    revenue: float | None = strawberry.field(description="Revenue credited. " + CONVERTERS_HIDDEN)
    cost: float | None = strawberry.field(description="Summed over its touches; null if none.")
    roi: float | None = strawberry.field(
        description="(revenue - cost) / cost; null without cost. " + CONVERTERS_HIDDEN
    )
    persons: int | None = strawberry.field(
        description="Persons it touched. " + HIDDEN.format("persons")
    )
    persons_range: CountRange
    converters_range: CountRange = strawberry.field(
        description="Persons with an order whose path it is on."
    )


@strawberry.type(
    description=(
        "What a campaign caused, measured against its random holdout, beside the credit the "
        "model gives it: attribution divides credit, a holdout measures causation."
    )
)
class CampaignLift:
    campaign: str
    contacted: int | None = strawberry.field(description=HIDDEN.format("contacted"))
    contacted_range: CountRange
    held_out: int | None = strawberry.field(description=HIDDEN.format("heldOut"))
    held_out_range: CountRange
    contacted_rate: float | None = strawberry.field(
        description="Share who ordered within the window after the campaign's first touch."
    )
    held_out_rate: float | None
    lift: float | None = strawberry.field(description="contactedRate - heldOutRate.")
    low: float | None = strawberry.field(description="95% interval of the lift, lower end.")
    high: float | None
    incremental_conversions: float | None = strawberry.field(
        description="lift x contacted: the orders the campaign caused."
    )
    credited_conversions: float | None = strawberry.field(
        description="The orders the model credits to the campaign (campaign level)."
    )


@strawberry.type(description="Attributed conversions per channel or campaign under one model.")
class Attribution:
    model: AttributionModel
    level: AttributionLevel
    window_days: float = strawberry.field(description="Touches count this long before an order.")
    audience: str | None = strawberry.field(description="The audience asked about; null: all.")
    conversions: int | None = strawberry.field(
        description="Orders with at least one touch on their path (what the models divide). "
        + HIDDEN.format("conversions")
    )
    conversions_range: CountRange
    untouched_conversions: int | None = strawberry.field(
        description="Orders with no touch in their window: no model credits them. "
        + HIDDEN.format("untouchedConversions")
    )
    untouched_conversions_range: CountRange
    credits: list[AttributionCredit] = strawberry.field(description="Most conversions first.")
    holdouts: list[CampaignLift] = strawberry.field(description="Campaigns with a holdout.")


@strawberry.type(description="Why attribution was not answered.")
class AttributionError:
    message: str


AttributionResult = Annotated[Attribution | AttributionError, strawberry.union("AttributionResult")]


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def credits_of(answer: Answer, disclosure: Disclosure) -> list[AttributionCredit]:
    out = []
    for row in answer.rows.to_dict(orient="records"):
        hidden = disclosure.hides(int(row["converters"]))
        out.append(
            AttributionCredit(
                key=str(row["key"]),
                conversions=None if hidden else float(row["conversions"]),
                revenue=None if hidden else float(row["revenue"]),
                cost=_number(row["cost"]),
                roi=None if hidden else _number(row["roi"]),
                persons=disclosure.count(int(row["persons"])),
                persons_range=disclosure.range(int(row["persons"])),
                converters_range=disclosure.range(int(row["converters"])),
            )
        )
    return out


def lifts_of(answer: Answer, disclosure: Disclosure) -> list[CampaignLift]:
    out = []
    for row in answer.holdouts.to_dict(orient="records"):
        counts = [
            int(row[c])
            for c in ("contacted", "held_out", "contacted_converted", "held_out_converted")
        ]
        # Rates and the lift would give the hidden counts back.
        hidden = any(disclosure.hides(n) for n in counts)
        nt, nc, xt, xc = counts
        out.append(
            CampaignLift(
                campaign=str(row["campaign"]),
                contacted=disclosure.count(nt),
                contacted_range=disclosure.range(nt),
                held_out=disclosure.count(nc),
                held_out_range=disclosure.range(nc),
                contacted_rate=None if hidden or not nt else xt / nt,
                held_out_rate=None if hidden or not nc else xc / nc,
                lift=None if hidden else float(row["lift"]),
                low=None if hidden else float(row["low"]),
                high=None if hidden else float(row["high"]),
                incremental_conversions=None if hidden else float(row["incremental"]),
                credited_conversions=None if hidden else float(row["credited"]),
            )
        )
    return out
