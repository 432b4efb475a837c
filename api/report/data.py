"""Everything the persona report shows, read from the store for one run and one reader.

Counts of persons pass through the API's disclosure rule (`api.counts.Disclosure`): an
operator gets the same ranges here as from the API, and the page names no person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from api.counts import Disclosure
from api.report.audiences import AudienceSection, audience_section
from api.report.counts import Count
from api.report.personas import PersonaView, Share, personas
from store import basket as basket_queries
from store import catalog, outcomes
from store import report as report_queries
from store.errors import NotFound
from store.runs import drift
from store.runs import reads as run_reads
from store.runs.reads import RunRow

DISTRIBUTIONS = ("lifecycle", "value_segment")
PERFORMANCE_KEY = "value_segment"
PERFORMANCE_DAYS = 30  # the API's default window; shorter when the data covers less
TOP_RULES = 10
TOP_DRIFT = 15
KEPT_RUNS = 50  # runs a trend reaches back over


@dataclass(frozen=True)
class SourceQuality:
    source: str
    read: int
    kept: int
    after_as_of: int
    dropped: list[tuple[str, int]]  # (reason, rows), most first


@dataclass(frozen=True)
class RfmCellView:
    r: int
    f: int
    count: Count
    mean_monetary: float | None  # None with a hidden count: a mean of few persons is theirs


@dataclass(frozen=True)
class Conversion:
    value: str
    persons: Count
    converted: Count
    rate: float | None


@dataclass(frozen=True)
class Performance:
    key: str
    days: int
    covered_days: int
    values: list[Conversion]  # empty when the data stops at as_of


@dataclass(frozen=True)
class DriftView:
    previous_run_id: int
    threshold: float
    keys: list[drift.KeyDrift]  # most drifted first
    flagged: list[str]


@dataclass(frozen=True)
class Rule:
    antecedents: list[str]
    consequents: list[str]
    support: float
    confidence: float
    lift: float


@dataclass(frozen=True)
class Report:
    run: RunRow
    exact: bool  # False: the reader sees small counts as ranges
    minimum: int
    quality: list[SourceQuality]
    personas: list[PersonaView]
    distributions: dict[str, list[Share]]
    rfm: list[RfmCellView]
    audiences: AudienceSection
    performance: Performance
    drift: DriftView | None
    rules: dict[str, list[Rule]]  # by level: item, category
    generated_at: datetime


def build_report(*, connection: Connection, disclosure: Disclosure, now: datetime) -> Report:
    """The report of the store's current run, as `disclosure` lets its reader see counts."""
    run = run_reads.current_run(connection=connection)
    if run is None:
        raise NotFound("the store has no committed run yet; run `portrait run --source DIR` first")
    seen = Disclosure(exact=disclosure.exact, minimum=disclosure.minimum, universe=run.persons)
    runs = _committed_runs(connection)
    return Report(
        run=run,
        exact=seen.exact,
        minimum=seen.minimum,
        quality=_quality(connection, run.id),
        personas=personas(connection=connection, run=run, runs=runs, disclosure=seen),
        distributions={key: _distribution(connection, run, key, seen) for key in DISTRIBUTIONS},
        rfm=_rfm(connection, run.id, seen),
        audiences=audience_section(connection=connection, run=run, runs=runs, disclosure=seen),
        performance=_performance(connection, run.id, seen),
        drift=_drift(connection, run.id),
        rules={level: _rules(connection, run.id, level) for level in ("item", "category")},
        generated_at=now,
    )


def _committed_runs(connection: Connection) -> list[RunRow]:
    """The committed runs the store keeps, oldest first."""
    found = run_reads.last_runs(connection=connection, last=KEPT_RUNS)
    return sorted((r for r in found if r.status == "committed"), key=lambda r: r.id)


def _quality(connection: Connection, run_id: int) -> list[SourceQuality]:
    (report,) = run_reads.run_reports(connection=connection, run_ids=[run_id])
    found = []
    # Only per-source row accounts: the quality JSON carries other sections too (as the API).
    for source, q in report.quality.items():
        if not isinstance(q, dict) or "read" not in q:
            continue
        dropped = sorted((q.get("dropped") or {}).items(), key=lambda item: (-item[1], item[0]))
        found.append(SourceQuality(source, q["read"], q["kept"], q.get("after_as_of", 0), dropped))
    return found


def _distribution(
    connection: Connection, run: RunRow, key: str, disclosure: Disclosure
) -> list[Share]:
    counts = catalog.tag_value_counts(connection=connection, run_id=run.id, key=key, top=100)
    # As the API's tagDistribution: the catalog's values nobody has are listed with 0.
    definitions = catalog.tag_definitions(connection=connection, run_id=run.id)
    seen = {value for value, _ in counts.top}
    unseen = [(v, 0) for d in definitions if d.key == key for v in d.values if v not in seen]
    return [
        Share(value, Count.of(n, disclosure), disclosure.share(n, run.persons))
        for value, n in counts.top + unseen
    ]


def _rfm(connection: Connection, run_id: int, disclosure: Disclosure) -> list[RfmCellView]:
    return [
        RfmCellView(
            int(cell.r),
            int(cell.f),
            Count.of(cell.persons, disclosure),
            None if disclosure.hides(cell.persons) else cell.mean_monetary,
        )
        for cell in report_queries.rfm_grid(connection=connection, run_id=run_id)
    ]


def _performance(connection: Connection, run_id: int, disclosure: Disclosure) -> Performance:
    covered = outcomes.covered_days(connection=connection, run_id=run_id)
    days = min(PERFORMANCE_DAYS, covered)
    if days < 1:
        return Performance(PERFORMANCE_KEY, 0, covered, [])
    found = outcomes.segment_conversion(
        connection=connection, run_id=run_id, key=PERFORMANCE_KEY, days=days
    )
    values = [
        # As the API's segmentPerformance.
        Conversion(
            s.value,
            Count.of(s.persons, disclosure),
            Count.of(s.converted, disclosure),
            None if disclosure.hides(s.persons) else disclosure.share(s.converted, s.persons),
        )
        for s in found
    ]
    return Performance(PERFORMANCE_KEY, days, covered, values)


def _drift(connection: Connection, run_id: int) -> DriftView | None:
    report = drift.stored(connection=connection, run_id=run_id)
    if report is None:
        return None
    flagged = [k.key for k in report.keys if k.flagged]
    return DriftView(report.previous_run_id, report.threshold, report.keys[:TOP_DRIFT], flagged)


def _rules(connection: Connection, run_id: int, level: str) -> list[Rule]:
    found = basket_queries.rules(connection=connection, run_id=run_id, level=level)[:TOP_RULES]
    names: dict[str, str] = {}
    if level == "item":
        ids = sorted({i for r in found for i in (*r.antecedents, *r.consequents)})
        items = basket_queries.items(connection=connection, run_id=run_id, item_ids=ids)
        names = {i.item_id: i.name for i in items if i.name}

    def named(entries: list[str]) -> list[str]:
        return [names.get(e, e) for e in entries]

    return [
        Rule(named(r.antecedents), named(r.consequents), r.support, r.confidence, r.lift)
        for r in found
    ]
