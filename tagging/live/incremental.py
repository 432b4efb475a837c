"""Incremental behavioural tags: the live path's `api.live.feed.Incremental`.

Each step takes the live events and orders stored since the last one (by `seq`), finds their
persons (`tagging.live.identities`), adds them to each person's facts (`tagging.live.facts`),
and their carts, order lines and latest orders to their shopping (`tagging.live.shoppers`),
and recomputes the maintained keys (`tagging.live.rules.MAINTAINED`: recency, frequency,
monetary, their R/F/M scores and segment, lifecycle, value_segment, cart_abandoner,
preferred_category) with the run's own rules and cut points (`tagging.live.ranks`) on the live
day, and a buyer's recommendations with the run's item rules. The touched persons' saved-audience
memberships are evaluated on their tags before and after (`tagging.live.memberships`). The
overlay rows (`store.live.profiles`), the progress and the membership changes are written in
one transaction: a restart goes on from the last commit and loses nothing.

The clock. The live day is the shop's own: the latest of the run's as_of and every event and
order time taken live (a run without --as-of takes the same), or, given a `clock`, the shop's
wall clock if it is later. When the day turns, the sweep ages every person whose maintained
tags a day can change: the overlay's persons, and the run's persons whose recency crosses a
lifecycle limit or who are `new` or `reactivated` (what days alone change); `sweep` is run at
least once a minute and also applies events stored by another process.

Model scores, personas and every other key stay the run's until the next run.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from pyroaring import BitMap
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from store.audiences import bitmaps
from store.audiences import saved as saved_audiences
from store.live import lines as live_lines
from store.live import log as live
from store.live import profiles as live_profiles
from store.live.log import ChangeRow, NewChange
from store.live.profiles import MERGED_INTO, LiveRow, Progress
from store.profiles import reads as profile_reads
from store.profiles.reads import PersonRow
from store.runs import reads as run_reads
from store.runs.reads import RunRow
from tagging.identity import without_cycle_collection
from tagging.live import identities, memberships, ranks, shopping
from tagging.live.facts import Facts, applied
from tagging.live.memberships import Moved, SavedAudience
from tagging.live.rules import MAINTAINED, SCORED, TagRules, Tags
from tagging.live.shoppers import NOTHING, Shoppers
from tagging.live.shopping import Activity, Shopping
from tagging.tags import LifecycleParams

CHUNK = 5_000  # persons read per query
# Events (and orders) one step applies at most: more stored is applied by further steps, each
# its own transaction, the lock let go between them, so that a backlog makes no long step.
STEP_LIMIT = 1_000
# Keys a day changes for every buyer: not reason enough alone to overlay a swept person.
DAILY = frozenset({"recency_days"})
# Why a person a merge retired left the saved audiences they were in.
MERGED = "merged"
# Tags that days alone end: (key, value).
AGING = (("lifecycle", "new"), ("lifecycle", "reactivated"), ("value_segment", "new"))


class Batch(Protocol):
    """What a micro-batch says (`api.live.feed.MicroBatch`): the `seq` stored through."""

    @property
    def events_through(self) -> int: ...
    @property
    def orders_through(self) -> int: ...


@dataclass
class _Run:
    """What the live path reads of the committed run, once per run."""

    row: RunRow
    day: date
    lifecycle: LifecycleParams
    scores: dict[str, ranks.RunScores]
    aging: BitMap  # persons whose tags days alone change: new, reactivated
    facts: dict[int, Facts]  # the overlay's persons (kept in step with the store)
    values: ranks.LiveValues  # and their R, F, M values and scores
    tags: dict[int, Tags]  # and their maintained tags (the overlay's, kept in memory)
    base: dict[int, Tags]  # and their run tags of the keys `read` (a run's never change)
    shoppers: Shoppers  # carts, purchases, category weights, latest orders; item rules
    retired: dict[int, int]  # the run's persons a live merge retired: the number kept instead
    read: frozenset[str] = frozenset()


class LiveTags:
    """The maintained tags of live persons; one step at a time (a lock)."""

    def __init__(
        self,
        *,
        id_key: str,
        clock: Callable[[], datetime] | None = None,
        step_limit: int = STEP_LIMIT,
    ) -> None:
        self._id_key = id_key
        self._clock = clock
        self._step_limit = step_limit
        self._rules = TagRules()
        self._lock = threading.Lock()
        self._run: _Run | None = None
        self._parsed: dict[str, SavedAudience] = {}  # by expression text

    def __call__(self, engine: Engine, batch: Batch) -> list[ChangeRow]:
        return self.advance(
            engine, events_through=batch.events_through, orders_through=batch.orders_through
        )

    def sweep(self, engine: Engine) -> list[ChangeRow]:
        """Everything stored so far applied, and the day turned if it has."""
        with engine.connect() as connection:
            events, orders = live.last_seqs(connection=connection)
        return self.advance(engine, events_through=events, orders_through=orders)

    def advance(
        self, engine: Engine, *, events_through: int, orders_through: int
    ) -> list[ChangeRow]:
        """Apply what is stored through these `seq`s, in steps of at most `step_limit` events
        and orders; the membership changes appended. Every step ranks every live person again:
        those whose R, F or M score the step's orders moved are retagged in it."""
        changes: list[ChangeRow] = []
        cut = True
        while cut:
            # A step makes and drops ~100 objects a person; the collector set off by them
            # walked the live caches again and again (a 5,000-person step: 0.70 -> 0.52 s).
            with self._lock, without_cycle_collection():
                try:
                    with engine.begin() as connection:
                        found, cut = self._step(connection, events_through, orders_through)
                except BaseException:
                    self._run = None  # its overlay cache may be ahead of what was committed
                    raise
            changes += found
        return changes

    @property
    def run_id(self) -> int | None:
        """The run the live tags sit on now (None: not read yet)."""
        run = self._run
        return None if run is None else run.row.id

    def live_persons(self, run_id: int) -> AbstractSet[int] | None:
        """The persons with a live row on run `run_id`: live tags, or merged into another
        (None: not known here yet); a view that follows the steps."""
        run = self._run
        if run is None or run.row.id != run_id:
            return None
        return _Either(run.facts.keys(), run.retired.keys())

    def close(self) -> None:
        self._rules.close()

    def _step(
        self, connection: Connection, events_through: int, orders_through: int
    ) -> tuple[list[ChangeRow], bool]:
        """One step's changes, and whether more is left to apply (the step was cut)."""
        live_profiles.hold_steps(connection=connection)
        now = datetime.now(UTC)  # the step's time: its changes' `at`, taken before it reads
        row = run_reads.current_run(connection=connection)
        if row is None:
            return [], False  # nothing to sit on: events wait for the first run
        run = self._basis(connection, row)
        before = live_profiles.progress(connection=connection)
        progress = _on_run(before, run)
        # A micro-batch the sweep has applied already asks for less: never go back.
        events_through = max(events_through, progress.events_through)
        orders_through = max(orders_through, progress.orders_through)
        limit = self._step_limit
        events = live_profiles.events_between(
            connection=connection,
            after=progress.events_through,
            through=events_through,
            limit=limit,
        )
        orders = live_profiles.orders_between(
            connection=connection,
            after=progress.orders_through,
            through=orders_through,
            limit=limit,
        )
        cut = len(events) == limit or len(orders) == limit
        if len(events) == limit:
            events_through = events[-1].seq
        if len(orders) == limit:
            orders_through = orders[-1].seq
        times = [e.ts for e in events] + [o.ts for o in orders]
        latest = max([t for t in (progress.latest, *times) if t is not None], default=None)
        today = max(d for d in (run.day, progress.day, _day(latest), self._today()) if d)
        if not (events or orders) and today == progress.day and before == progress:
            return [], False
        numbers, created, merged = identities.resolve(
            connection=connection,
            run_id=run.row.id,
            id_key=self._id_key,
            actors=[(e.user_id, e.device_id) for e in events] + [(o.user_id, None) for o in orders],
        )
        touched: dict[int, tuple[list[tuple[datetime, float]], list[datetime]]] = {}
        for e in events:
            n = numbers[("user_id", e.user_id) if e.user_id else ("device_id", e.device_id)]  # type: ignore[index]
            touched.setdefault(n, ([], []))[1].append(e.ts)
        for o in orders:
            touched.setdefault(numbers[("user_id", o.user_id)], ([], []))[0].append(
                (o.ts, o.amount)
            )
        lines = live_lines.lines_of(connection=connection, order_ids=[o.order_id for o in orders])
        shopped = shopping.activities(
            events, orders, lines, numbers, run.shoppers.categories
        )
        aged = self._aged(run, progress.day, today) if today > progress.day else set()
        changes = self._retag(connection, run, today, touched, shopped, aged, created, merged, now)
        live_profiles.set_progress(
            connection=connection,
            to=Progress(run.row.id, events_through, orders_through, latest, today),
        )
        return live.append_changes(connection=connection, changes=changes), cut

    def _retag(
        self,
        connection: Connection,
        run: _Run,
        today: date,
        touched: Mapping[int, tuple[list[tuple[datetime, float]], list[datetime]]],
        shopped: Mapping[int, Activity],
        aged: set[int],
        created: Mapping[int, str],
        merged: Mapping[int, int],
        now: datetime,
    ) -> list[NewChange]:
        # A merge's kept person has the facts and shopping of both; the retired leave.
        into: dict[int, list[int]] = {}
        for old, new in merged.items():
            into.setdefault(new, []).append(old)
        persons = sorted((touched.keys() | aged | into.keys()) - merged.keys())
        wanted = [n for n in persons if n not in run.facts] + list(merged)
        profiles = _profiles(connection, run.row.id, wanted)

        def known(n: int) -> Facts:
            found = run.facts.get(n)
            if found is None:
                profile = profiles.get(n)
                found = Facts.from_features(profile and profile.features, run_day=run.day)
            return found

        facts: dict[int, Facts] = {}
        bags: dict[int, Shopping] = {}
        for n in persons:
            others = into.get(n, [])
            bags[n] = run.shoppers.of(n, shopped.get(n, NOTHING), merged=others)
            start = known(n)
            for other in others:
                start = start.merged(known(other))
            orders, seen = touched.get(n, ([], []))
            facts[n] = applied(start, orders, seen)
        features = {n: f.features(today) | bags[n].features() for n, f in facts.items()}
        # The retired are no longer buyers of their own: out of every rank.
        gone_values = dict.fromkeys(merged, (np.nan, np.nan, np.nan))
        numbers, values, held = run.values.with_step(
            {n: ranks.values_of(f) for n, f in facts.items()} | gone_values
        )
        keyed = ranks.key_values(values, today.toordinal())
        table = ranks.standings(run.scores, numbers, keyed, days_since_run=(today - run.day).days)
        scores = np.column_stack(list(ranks.rfm_scores(keyed, table).values()))
        # The step's persons, and every overlay person whose rank the step's moves changed:
        # their facts, shopping and day are those their tags were computed from, so only the
        # keys the scores decide are computed again (`rescored`).
        same = (scores == held) | (np.isnan(scores) & np.isnan(held))
        rescored: dict[int, dict[str, int | None]] = {}
        for i in np.flatnonzero(~same.all(axis=1) | np.isin(numbers, list(facts))).tolist():
            n = int(numbers[i])
            if n in merged:
                continue
            rfm = (_integer(_number(score)) for score in scores[i].tolist())
            scored = dict(zip(ranks.SCORE_OF.values(), rfm, strict=True))
            if n in facts:
                features[n] |= scored
            else:
                rescored[n] = scored
        persons = sorted(features.keys() | rescored.keys())
        saved = self._saved(connection)
        # Only the keys that are maintained or that a saved audience reads are compared.
        read = frozenset({*MAINTAINED, *(key for audience in saved for key in audience.keys)})
        if read != run.read:
            run.read, run.base = read, {}
        fresh = [n for n in persons if n not in run.base and n not in profiles]
        profiles |= _profiles(connection, run.row.id, fresh)
        overlay = {n: run.tags[n] for n in persons if n in run.tags}
        weights = {n: bags[n].weights() for n in features}
        new_tags = self._rules.tags_of(
            features,
            run.lifecycle,
            weights,
            rescored={n: run.facts[n].features(today) | scored for n, scored in rescored.items()},
        )
        run_tags = {n: run.base[n] for n in (*persons, *merged) if n in run.base}
        run_tags |= profile_reads.tag_values_of(
            connection=connection,
            run_id=run.row.id,
            persons=[p for n, p in profiles.items() if n not in run_tags],
            keys=read,
        )
        person_ids = {n: p.person_id for n, p in profiles.items()} | dict(created)
        missing = [n for n in (*persons, *merged) if n not in person_ids]
        person_ids |= live_profiles.person_ids_of(connection=connection, numbers=missing)
        rows: list[LiveRow] = []
        retagged: list[tuple[int, Tags]] = []  # the rescored: their facts stay as stored
        moved: list[Moved] = []
        # A forgotten person (their number names no one now) is no longer tagged, even if this
        # process still holds their facts from before.
        gone = [n for n in persons if n not in person_ids]
        for n in gone:
            run.facts.pop(n, None)
            run.values.drop(n)
            run.tags.pop(n, None)
            run.base.pop(n, None)
            run.shoppers.forget(n)
        persons = [n for n in persons if n in person_ids]
        for n in persons:
            base = run_tags.get(n, {})
            was = overlay[n] if n in overlay else _maintained(base)
            if n in rescored:
                now_tags = _rescored(was, new_tags[n])
                changed = memberships.changed_keys(was, now_tags, SCORED)
                retagged.append((n, now_tags))
            else:
                now_tags = run.shoppers.tags(new_tags[n], _maintained(base))
                changed = memberships.changed_keys(was, now_tags, MAINTAINED)
            written = n in touched or n in into or n in overlay or changed - DAILY
            if n not in rescored and written:
                kept = facts[n].as_json()
                fire = bool(shopped.get(n, NOTHING).orders) or n in into
                kept |= run.shoppers.facts(n, bags[n], fire=fire)
                rows.append(LiveRow(n, run.row.id, today, kept, now_tags, now))
            if changed and n in person_ids:
                before, after = _with(base, was), _with(base, now_tags)
                moved.append(Moved(person_ids[n], before, after, changed))
        # The retired: out of every saved audience they were in, their row a marker.
        departed: list[tuple[str, Tags]] = []
        for n in merged:
            if n in person_ids:
                base = run_tags.get(n, {})
                was = run.tags[n] if n in run.tags else _maintained(base)
                departed.append((person_ids[n], _with(base, was)))
        # Persons retired before into one retired now follow it into the kept.
        chained = {n: merged[k] for n, k in run.retired.items() if k in merged}
        markers = [
            LiveRow(n, run.row.id, today, {MERGED_INTO: k}, {}, now)
            for n, k in {**merged, **chained}.items()
        ]
        live_profiles.write(connection=connection, rows=rows + markers)
        live_profiles.retag(connection=connection, tags=retagged, day=today, at=now)
        for n, k in merged.items():
            run.facts.pop(n, None)
            run.tags.pop(n, None)
            run.base.pop(n, None)
            run.shoppers.forget(n)
            run.values.set(n, gone_values[n], (None, None, None))
            run.retired[n] = k
        run.retired |= chained
        for row in rows:
            n = row.person_idx
            run.facts[n], run.tags[n], run.base[n] = facts[n], row.tags, run_tags.get(n, {})
            run.values.set(n, ranks.values_of(facts[n]), _rfm(features[n]))
        for n, now_tags in retagged:
            run.tags[n], run.base[n] = now_tags, run_tags.get(n, {})
            run.values.set(n, ranks.values_of(run.facts[n]), _rfm(rescored[n]))
        run.shoppers.remember({row.person_idx: bags[row.person_idx] for row in rows}, rows)
        found = memberships.changes(saved, moved, at=now) if moved else []
        return found + memberships.departures(saved, departed, at=now, why=MERGED)

    def _saved(self, connection: Connection) -> list[SavedAudience]:
        """The saved audiences, each expression parsed once per text (parsing took longer
        than evaluating it for a micro-batch's persons)."""
        rows = saved_audiences.all_saved(connection=connection)
        for row in rows:
            if row.expression not in self._parsed:
                self._parsed[row.expression] = SavedAudience.of(row.name, row.expression)
        return [self._parsed[row.expression]._replace(name=row.name) for row in rows]

    def _aged(self, run: _Run, since: date, today: date) -> set[int]:
        """The persons a day turn from `since` to `today` can change (besides the overlay's):
        those whose recency crosses a limit of the lifecycle, and the new and reactivated."""
        days = run.scores["recency_days"]
        was = days.values + (since - run.day).days
        now = days.values + (today - run.day).days
        p = run.lifecycle
        limits = (p.new_days, p.active_days, p.churn_risk_days, p.dormant_days)
        crossing = np.zeros(len(was), dtype=bool)
        for limit in limits:
            crossing |= (was <= limit) & (now > limit)
        found = set(days.persons[crossing].tolist()) | set(run.aging) | set(run.facts)
        return {int(n) for n in found} - run.retired.keys()

    def _today(self) -> date | None:
        return None if self._clock is None else self._clock().date()

    def _basis(self, connection: Connection, row: RunRow) -> _Run:
        if self._run is not None and self._run.row.id == row.id:
            return self._run
        live_profiles.reset_to(connection=connection, run_id=row.id)
        zone = ZoneInfo(live.shop_timezone(connection=connection))
        params = live_profiles.run_params(connection=connection, run_id=row.id)
        scores = {}
        for key in ranks.KEYS:
            persons, values = bitmaps.key_scores(connection=connection, run_id=row.id, key=key)
            scores[key] = ranks.RunScores(persons.astype(np.int64), values)
        aging = BitMap()
        for key, value in AGING:
            members = bitmaps.value_members(connection=connection, run_id=row.id, key=key)
            aging |= members.get(value, BitMap())
        rows = live_profiles.overlay_on(connection=connection, run_id=row.id)
        retired = {r.person_idx: int(r.facts[MERGED_INTO]) for r in rows if MERGED_INTO in r.facts}
        overlay = [r for r in rows if r.person_idx not in retired]
        held = ranks.LiveValues()
        for r in overlay:
            held.set(r.person_idx, ranks.values_of(Facts.from_json(r.facts)), _rfm_of_tags(r.tags))
        for n in retired:
            held.set(n, (np.nan, np.nan, np.nan), (None, None, None))
        self._run = _Run(
            row=row,
            day=_committed_as_of(row).astimezone(zone).date(),
            lifecycle=LifecycleParams(**(params.get("lifecycle") or {})),
            scores=scores,
            aging=aging,
            facts={r.person_idx: Facts.from_json(r.facts) for r in overlay},
            values=held,
            tags={r.person_idx: r.tags for r in overlay},
            base={},
            shoppers=Shoppers.read(
                connection=connection, run_id=row.id, params=params, overlay=overlay
            ),
            retired=retired,
        )
        return self._run


class _Either(AbstractSet[int]):
    """Numbers in either of two disjoint key views (a view of both, not a copy)."""

    def __init__(self, one: AbstractSet[int], other: AbstractSet[int]) -> None:
        self._one, self._other = one, other

    def __contains__(self, number: object) -> bool:
        return number in self._one or number in self._other

    def __iter__(self) -> Iterator[int]:
        return itertools.chain(self._one, self._other)

    def __len__(self) -> int:
        return len(self._one) + len(self._other)


def _on_run(progress: Progress | None, run: _Run) -> Progress:
    """The progress to go on from on this run: on a newer run, its day (events are not
    applied twice: `seq` goes on)."""
    if progress is None:
        return Progress(run.row.id, 0, 0, None, run.day)
    if progress.run_id != run.row.id:
        return progress._replace(run_id=run.row.id, latest=None, day=run.day)
    return progress


def _day(ts: datetime | None) -> date | None:
    return None if ts is None else ts.date()


def _profiles(connection: Connection, run_id: int, persons: Sequence[int]) -> dict[int, PersonRow]:
    found: dict[int, PersonRow] = {}
    for start in range(0, len(persons), CHUNK):
        rows = profile_reads.persons_by_idx(
            connection=connection, run_id=run_id, person_idxs=list(persons[start : start + CHUNK])
        )
        found |= {row.person_idx: row for row in rows}
    return found


def _rfm(features: Mapping[str, int | None]) -> ranks.Scores:
    r, f, m = (_number(features.get(name)) for name in ranks.SCORE_OF.values())
    return r, f, m


def _number(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)  # NaN: none


def _integer(value: float | None) -> int | None:
    return None if value is None else int(value)


def _rfm_of_tags(tags: Tags) -> ranks.Scores:
    r, f, m = (tags[key][0][1] if tags.get(key) else None for key in ("rfm_r", "rfm_f", "rfm_m"))
    return r, f, m


def _rescored(tags: Tags, scored: Tags) -> Tags:
    """A person's maintained tags with the SCORED keys as computed again."""
    return {k: v for k, v in tags.items() if k not in SCORED} | scored


def _maintained(tags: Mapping[str, list[tuple[str, float | None]]]) -> Tags:
    return {k: v for k, v in tags.items() if k in MAINTAINED}


def _with(base: Mapping[str, list[tuple[str, float | None]]], maintained: Tags) -> Tags:
    """The run's tags with the maintained keys replaced."""
    return {**{k: v for k, v in base.items() if k not in MAINTAINED}, **maintained}


def _committed_as_of(row: RunRow) -> datetime:
    """A committed run's as-of (written by its commit, so never null)."""
    if row.as_of is None:
        raise ValueError(f"run {row.id} has no as_of: it is {row.status}, not committed")
    return row.as_of
