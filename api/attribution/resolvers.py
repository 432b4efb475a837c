"""Resolver of the attribution query: the run's stored answer, or one worked out on demand for
another window or an audience."""

from __future__ import annotations

from functools import partial
from typing import cast

import numpy as np
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from api.attribution.types import (
    Attribution,
    AttributionError,
    AttributionLevel,
    AttributionModel,
    credits_of,
    lifts_of,
)
from api.audiences import selections
from api.audiences.scalars import ParsedExpression
from api.audiences.types import answer as answered
from api.context import Info
from api.counts import Counted
from store import attribution as stored
from store.audiences.expressions import to_text
from store.errors import InputError, NotFound
from tagging.attribution.answer import Answer, check_question, compute, from_report
from tagging.attribution.inputs import read_kept
from tagging.attribution.paths import Level
from tagging.attribution.report import AttributionParams


async def attribution(
    info: Info,
    *,
    model: AttributionModel,
    level: AttributionLevel,
    window: int,
    audience: ParsedExpression | None,
) -> Attribution | AttributionError:
    run = selections.require_run(info)
    try:
        check_question(model.value, window)
    except InputError as error:
        return AttributionError(message=str(error))
    persons = None
    disclosure = info.context.disclosure
    if audience is not None:
        selection, _ = await selections.select(info, audience)
        count = await answered(selection, selection.count)
        if disclosure.hides(count):
            return AttributionError(
                message="attribution: the audience is under the minimum audience size "
                f"({info.context.settings.min_audience}) or too close to the whole run; this "
                "role sees aggregates of larger audiences only"
            )
        # Credit within `P OR T` and within `P` would differ by T's conversions and revenue:
        # the audience goes through an operator's ledger like any count (api.ledger).
        counted = Counted(count, ("audience", selection.expression), selection.bitmap)
        await answered(selection, lambda: disclosure.shown(counted))
        persons = await answered(selection, selection.everyone)
    found = await run_in_threadpool(
        partial(
            answer,
            engine=info.context.engine,
            run_id=run.id,
            model=model.value,
            level=level.value,
            window=window,
            persons=persons,
        )
    )
    if isinstance(found, str):
        return AttributionError(message=found)
    summary = found.summary
    touched = int(summary.get("converting_paths", 0))
    untouched = int(summary.get("untouched_conversions", 0))
    return Attribution(
        model=model,
        level=level,
        window_days=found.window_days,
        audience=None if audience is None else to_text(audience.tree),
        conversions=disclosure.count(touched),
        conversions_range=disclosure.range(touched),
        untouched_conversions=disclosure.count(untouched),
        untouched_conversions_range=disclosure.range(untouched),
        credits=credits_of(found, disclosure),
        holdouts=lifts_of(found, disclosure),
    )


def answer(
    *, engine: Engine, run_id: int, model: str, level: str, window: int, persons: np.ndarray | None
) -> Answer | str:
    """The stored answer when it is the one asked for, else one worked out from the run's kept
    touches and orders; a message when the run has no touches."""
    check_question(model, window)
    with engine.connect() as connection:
        report = stored.report(connection=connection, run_id=run_id)
        if report is None or "levels" not in report:
            return (
                f"run {run_id} has no touches to attribute: its source folder had no touches "
                "file (or one without usable rows)"
            )
        params = AttributionParams(**{**report["params"], "window_days": float(window)})
        if persons is None and float(window) == float(report["params"]["window_days"]):
            found = from_report(report, model=model, level=cast(Level, level))
            if found is not None:
                return found
        content = stored.kept_file(connection=connection, run_id=run_id)
    if content is None:
        raise NotFound(f"run {run_id} kept no touches; run tagging again")
    touches, orders = read_kept(content)
    return compute(
        touches, orders, model=model, level=cast(Level, level), params=params, persons=persons
    )
