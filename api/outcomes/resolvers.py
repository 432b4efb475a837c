"""Resolvers of segment performance and audience comparisons."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.context import Info
from api.outcomes.types import (
    AudienceComparison,
    AudienceConversion,
    SegmentPerformance,
    SegmentValueConversion,
)
from store import outcomes


async def segment_performance(info: Info, *, key: str, days: int) -> SegmentPerformance:
    run = selections.require_run(info)
    await selections.require_key(info, key)
    connection = info.context.connection
    found = outcomes.segment_conversion(connection=connection, run_id=run.id, key=key, days=days)
    return SegmentPerformance(
        key=key,
        days=days,
        covered_days=outcomes.covered_days(connection=connection, run_id=run.id),
        values=[
            SegmentValueConversion(
                value=s.value,
                persons=s.persons,
                converted=s.converted,
                rate=s.converted / s.persons if s.persons else 0.0,
            )
            for s in found
        ],
    )


async def compare_audiences(
    info: Info, *, a: ParsedExpression, b: ParsedExpression, days: int
) -> AudienceComparison:
    first, run = await selections.select(info, a)
    second, _ = await selections.select(info, b)
    converters = outcomes.converted(connection=info.context.connection, run_id=run.id, days=days)
    result = await run_in_threadpool(
        lambda: outcomes.compare(first.everyone(), second.everyone(), converters)
    )
    return AudienceComparison(
        days=days,
        a=_conversion(result.a_persons, result.a_converted),
        b=_conversion(result.b_persons, result.b_converted),
        both=result.both,
        difference=result.difference,
        low=result.low,
        high=result.high,
        p_value=result.p_value,
        verdict=outcomes.verdict(result, days=days),
    )


def _conversion(persons: int, converted: int) -> AudienceConversion:
    rate = converted / persons if persons else 0.0
    return AudienceConversion(persons=persons, converted=converted, rate=rate)
