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
from store.errors import Forbidden


async def segment_performance(info: Info, *, key: str, days: int) -> SegmentPerformance:
    run = selections.require_run(info)
    await selections.require_key(info, key)
    engine = info.context.engine

    def measure() -> tuple[list[outcomes.SegmentConversion], int]:
        # Its own connection: the request's one may be in use on the loop meanwhile.
        with engine.connect() as connection:
            found = outcomes.segment_conversion(
                connection=connection, run_id=run.id, key=key, days=days
            )
            return found, outcomes.covered_days(connection=connection, run_id=run.id)

    found, covered = await run_in_threadpool(measure)  # scans the orders: off the event loop
    disclosure = info.context.disclosure
    return SegmentPerformance(
        key=key,
        days=days,
        covered_days=covered,
        values=[
            SegmentValueConversion(
                value=s.value,
                persons=disclosure.count(s.persons),
                persons_range=disclosure.range(s.persons),
                converted=disclosure.count(s.converted),
                converted_range=disclosure.range(s.converted),
                rate=None
                if disclosure.hides(s.persons)
                else disclosure.share(s.converted, s.persons),
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
    counts = {
        "a": result.a_persons,
        "b": result.b_persons,
        "a's converted": result.a_converted,
        "b's converted": result.b_converted,
        "both": result.both,
    }
    hidden = [name for name, count in counts.items() if info.context.disclosure.hides(count)]
    if hidden:  # rates, difference and interval would give the hidden counts away
        raise Forbidden(
            f"compareAudiences: {', '.join(hidden)} under the minimum audience size "
            f"({info.context.settings.min_audience}) or too close to the whole run; this role sees "
            "counts that small only as ranges (audience { countRange })"
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
