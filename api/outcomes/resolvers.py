"""Resolvers of segment performance and audience comparisons."""

from __future__ import annotations

from functools import partial

import numpy as np
from pyroaring import BitMap

from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.context import Info
from api.costs import heavy
from api.counts import Counted, CountRange, Disclosure
from api.outcomes.types import (
    AudienceComparison,
    AudienceConversion,
    SegmentPerformance,
    SegmentValueConversion,
)
from store import outcomes
from store.audiences.expressions import And, HasValue
from store.audiences.selection import Selection
from store.errors import Forbidden
from store.runs.reads import RunRow


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

    found, covered = await heavy(measure)  # scans the orders: off the event loop
    disclosure = info.context.disclosure
    # A number key's amounts are counted in bands, for every role (no bitmap per amount).
    if disclosure.exact and not await selections.is_number_key(info, run, key):
        values = [_exact_conversion(s) for s in found]
    else:
        values = await _operator_conversions(info, run, key, days, found)
    return SegmentPerformance(key=key, days=days, covered_days=covered, values=values)


def _exact_conversion(found: outcomes.SegmentConversion) -> SegmentValueConversion:
    persons, converted = CountRange(low=found.persons, high=found.persons), found.converted
    return SegmentValueConversion(
        value=found.value,
        persons=found.persons,
        persons_range=persons,
        converted=converted,
        converted_range=CountRange(low=converted, high=converted),
        rate=converted / found.persons if found.persons else 0.0,
    )


async def _operator_conversions(
    info: Info, run: RunRow, key: str, days: int, found: list[outcomes.SegmentConversion]
) -> list[SegmentValueConversion]:
    """The values (bands of a number key) whose persons an operator may count, named; each
    count through its ledger, the converted persons included."""
    if await selections.is_number_key(info, run, key):
        segments = await selections.banded(info, run, key)
    else:
        persons = await selections.value_persons(info, run, key, [s.value for s in found])
        segments = [
            (
                s.value,
                Counted(
                    s.persons,
                    ("audience", HasValue(key, (s.value,), 0)),
                    partial(persons.__getitem__, s.value),
                ),
            )
            for s in found
        ]
    converters = BitMap(
        outcomes.converted(connection=info.context.connection, run_id=run.id, days=days).astype(
            np.uint32
        )
    )
    everyone = await selections.run_persons(info, run)
    disclosure = info.context.disclosure

    def conversion(value: str, segment: Counted) -> SegmentValueConversion:
        inside = segment.persons() & converters
        converted = Counted(len(inside), ("converted", segment.question, days), lambda: inside)
        shown = disclosure.reveals(converted)
        return SegmentValueConversion(
            value=value,
            persons=segment.n,
            persons_range=disclosure.range(segment.n),
            converted=converted.n if shown else None,
            converted_range=disclosure.range_of(converted),
            rate=converted.n / segment.n if shown else None,
        )

    def listed() -> list[SegmentValueConversion]:
        named = disclosure.listed(segments, within=lambda: everyone)
        return [conversion(value, segment) for value, segment in named]

    return await heavy(listed)


async def compare_audiences(
    info: Info, *, a: ParsedExpression, b: ParsedExpression, days: int
) -> AudienceComparison:
    first, run = await selections.select(info, a)
    second, _ = await selections.select(info, b)
    converters = outcomes.converted(connection=info.context.connection, run_id=run.id, days=days)
    result = await heavy(lambda: outcomes.compare(first.everyone(), second.everyone(), converters))
    counts = {
        "a": result.a_persons,
        "b": result.b_persons,
        "a's converted": result.a_converted,
        "b's converted": result.b_converted,
        "both": result.both,
    }
    disclosure = info.context.disclosure
    hidden = [name for name, count in counts.items() if disclosure.hides(count)]
    if hidden:  # rates, difference and interval would give the hidden counts away
        raise Forbidden(
            f"compareAudiences: {', '.join(hidden)} under the minimum audience size "
            f"({info.context.settings.min_audience}) or too close to the whole run; this role sees "
            "counts that small only as ranges (audience { countRange })"
        )
    if not disclosure.exact:
        await heavy(partial(_admit_comparison, disclosure, first, second, converters, days))
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


def _admit_comparison(
    disclosure: Disclosure,
    first: Selection,
    second: Selection,
    converters: np.ndarray,
    days: int,
) -> None:
    """Every count a comparison gives away, through the operator's ledger (Forbidden if one
    of them may not be given): each audience, its converted persons, and both."""
    converted = BitMap(converters.astype(np.uint32))
    one, other = first.expression, second.expression
    for counted in (
        Counted(first.count(), ("audience", one), first.bitmap),
        Counted(second.count(), ("audience", other), second.bitmap),
        _converted(first, ("audience", one), converted, days),
        _converted(second, ("audience", other), converted, days),
        Counted(
            len(first.bitmap() & second.bitmap()),
            ("audience", And((one, other))),
            lambda: first.bitmap() & second.bitmap(),
        ),
    ):
        disclosure.shown(counted)


def _converted(audience: Selection, question: object, converters: BitMap, days: int) -> Counted:
    inside = audience.bitmap() & converters
    return Counted(len(inside), ("converted", question, days), lambda: inside)


def _conversion(persons: int, converted: int) -> AudienceConversion:
    rate = converted / persons if persons else 0.0
    return AudienceConversion(persons=persons, converted=converted, rate=rate)
