"""GraphQL types of what happened after a run's as_of: conversion by segment and by audience."""

from __future__ import annotations

import strawberry

from api.counts import HIDDEN, CountRange


@strawberry.type(description="How the persons with one value of a key converted.")
class SegmentValueConversion:
    value: str
    persons: int | None = strawberry.field(description=HIDDEN.format("persons"))
    persons_range: CountRange
    converted: int | None = strawberry.field(
        description="Ordered within the window after as_of. " + HIDDEN.format("converted")
    )
    converted_range: CountRange
    rate: float | None = strawberry.field(
        description="converted / persons; null when either is hidden."
    )


@strawberry.type(description="Conversion after the run's as_of, for each value of a tag key.")
class SegmentPerformance:
    key: str
    days: int = strawberry.field(description="The window after as_of.")
    covered_days: int = strawberry.field(description="Days after as_of the data covers.")
    values: list[SegmentValueConversion] = strawberry.field(description="Most persons first.")


@strawberry.type(description="How one audience converted after the run's as_of.")
class AudienceConversion:
    persons: int
    converted: int
    rate: float


@strawberry.type(description="Two audiences' conversion compared with a two-proportion test.")
class AudienceComparison:
    days: int
    a: AudienceConversion
    b: AudienceConversion
    both: int = strawberry.field(description="Persons in both audiences (counted in each).")
    difference: float = strawberry.field(description="a's rate minus b's rate.")
    low: float = strawberry.field(description="Lower end of the 95% confidence interval.")
    high: float = strawberry.field(description="Upper end of the 95% confidence interval.")
    p_value: float = strawberry.field(description="Two-sided, pooled two-proportion z-test.")
    verdict: str = strawberry.field(description="The result in plain words.")
