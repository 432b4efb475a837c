"""The report's saved-audience section: each audience's size over runs, and their overlaps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection

from api.counts import Disclosure
from api.report.counts import Count
from store import catalog
from store import report as report_queries
from store.audiences import saved as saved_audiences
from store.audiences.expressions import KeyVocabulary, check, parse, vocabulary
from store.errors import ExpressionError
from store.runs.reads import RunRow

# A matrix of n audiences is n x n cells; past this many the page lists the first ones.
MAX_AUDIENCES = 12


@dataclass(frozen=True)
class SizePoint:
    run_id: int
    size: Count


@dataclass(frozen=True)
class AudienceView:
    name: str
    expression: str
    sizes: list[SizePoint]
    current: Count | None  # None: the expression no longer fits the run's keys and values


@dataclass(frozen=True)
class OverlapCell:
    a: str
    b: str
    both: Count


@dataclass(frozen=True)
class AudienceSection:
    audiences: list[AudienceView]
    overlaps: list[OverlapCell]
    more: int  # saved audiences not shown


def audience_section(
    *, connection: Connection, run: RunRow, runs: list[RunRow], disclosure: Disclosure
) -> AudienceSection:
    saved = saved_audiences.all_saved(connection=connection)
    persons_of = {r.id: r.persons for r in runs}
    known = vocabulary(catalog.tag_definitions(connection=connection, run_id=run.id))
    members: dict[str, np.ndarray] = {}
    views = []
    for audience in saved[:MAX_AUDIENCES]:
        found = _members(connection, run.id, audience.expression, known)
        if found is not None:
            members[audience.name] = found
        sizes = [
            # Each size against its own run's persons, as the API's savedAudience sizes.
            SizePoint(
                row.run_id,
                Count.of(row.persons, disclosure.within(persons_of[row.run_id], row.run_id)),
            )
            for row in saved_audiences.sizes(connection=connection, name=audience.name)
            if row.run_id in persons_of
        ]
        current = None if found is None else Count.of(len(found), disclosure)
        views.append(AudienceView(audience.name, audience.expression, sizes, current))
    overlaps = [
        OverlapCell(a, b, Count.of(np.intersect1d(ma, mb, assume_unique=True).size, disclosure))
        for a, ma in members.items()
        for b, mb in members.items()
    ]
    return AudienceSection(views, overlaps, more=max(len(saved) - MAX_AUDIENCES, 0))


def _members(
    connection: Connection, run_id: int, expression: str, known: dict[str, KeyVocabulary]
) -> np.ndarray | None:
    try:
        tree = parse(expression)
        check(tree, known, expression)
    except ExpressionError:
        return None
    return report_queries.audience_members(connection=connection, run_id=run_id, expression=tree)
