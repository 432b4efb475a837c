"""The report's persona section: each persona's size, trend, distinguishing tags and mixes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from api.counts import Disclosure
from api.report.counts import Count
from store import personas as persona_queries
from store import report as report_queries
from store.runs.reads import RunRow

PERSONA_KEY = "persona"
# The keys each persona is described by, and how many values of each the page lists.
MIXES = {
    "rfm_segment": 8,
    "value_segment": 4,
    "preferred_category": 5,
    "preferred_brand": 5,
    "recommended_channel": 4,
}
SCORES = ("churn_risk", "repurchase_30d")
BINS = 10


@dataclass(frozen=True)
class Share:
    """Persons of a group with one value, and their share of the group (None when hidden)."""

    value: str
    count: Count
    share: float | None


@dataclass(frozen=True)
class Distinguishing:
    key: str
    value: str
    share: float | None
    lift: float


@dataclass(frozen=True)
class TrendPoint:
    run_id: int
    as_of: datetime
    size: Count


@dataclass
class PersonaView:
    persona_id: int
    name: str
    size: Count
    share: float | None  # of the run's buyers clustered, as the API's persona share
    top_tags: list[Distinguishing]
    trend: list[TrendPoint] = field(default_factory=list)
    mixes: dict[str, list[Share]] = field(default_factory=dict)
    scores: dict[str, list[Count]] = field(default_factory=dict)  # BINS counts per score key


def personas(
    *, connection: Connection, run: RunRow, runs: list[RunRow], disclosure: Disclosure
) -> list[PersonaView]:
    """The run's personas, largest first, with their trend over the committed `runs`."""
    records = persona_queries.personas(connection=connection, run_id=run.id)
    found = [_view(record, disclosure) for record in records]
    by_name = {p.name: p for p in found}
    for other in runs:
        seen = disclosure.within(other.persons, other.id)
        for record in persona_queries.personas(connection=connection, run_id=other.id):
            # Each run clusters afresh; a persona is the same one when its generated name is.
            if record.name in by_name and other.as_of is not None:  # committed: it has one
                point = TrendPoint(other.id, other.as_of, Count.of(record.size, seen))
                by_name[record.name].trend.append(point)
    _add_mixes(connection, run.id, by_name, disclosure)
    _add_scores(connection, run.id, by_name, disclosure)
    return found


def _view(record: persona_queries.Persona, disclosure: Disclosure) -> PersonaView:
    hidden = disclosure.hides(record.size)

    def tag_share(share: float) -> float | None:
        # As the API's PersonaTag.share: the members with the tag are a count of persons too.
        return None if hidden or disclosure.hides(round(share * record.size)) else share

    return PersonaView(
        persona_id=record.persona_id,
        name=record.name,
        size=Count.of(record.size, disclosure),
        share=None if hidden else record.share,
        top_tags=[
            Distinguishing(t["key"], t["value"], tag_share(t["share"]), t["lift"])
            for t in record.top_tags
        ],
    )


def _add_mixes(
    connection: Connection, run_id: int, by_name: dict[str, PersonaView], disclosure: Disclosure
) -> None:
    rows = report_queries.cross_counts(
        connection=connection, run_id=run_id, by_key=PERSONA_KEY, keys=list(MIXES)
    )
    for row in rows:  # most persons first within each (persona, key)
        persona = by_name.get(row.by_value)
        if persona is None:
            continue
        listed = persona.mixes.setdefault(row.key, [])
        if len(listed) < MIXES[row.key]:
            listed.append(_share(row.value, row.persons, persona, disclosure))


def _share(value: str, count: int, persona: PersonaView, disclosure: Disclosure) -> Share:
    size = persona.size.exact
    share = None if size is None else disclosure.share(count, size)
    return Share(value, Count.of(count, disclosure), share)


def _add_scores(
    connection: Connection, run_id: int, by_name: dict[str, PersonaView], disclosure: Disclosure
) -> None:
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * BINS)
    for row in report_queries.score_bins(
        connection=connection, run_id=run_id, by_key=PERSONA_KEY, keys=SCORES, bins=BINS
    ):
        counts[row.by_value, row.key][row.bin] = row.persons
    for name, persona in by_name.items():
        for key in SCORES:
            persona.scores[key] = [Count.of(n, disclosure) for n in counts[name, key]]
