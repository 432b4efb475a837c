"""The stages of one tagging run over one DuckDB connection: ingest, clean, identity,
features, tags; `tagging.run.runner` wraps them with the store's run bookkeeping."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend
from threadpoolctl import threadpool_limits

from store.basket_queries import BASKETS_FILE
from store.bulk import row_count
from store.snapshot import Snapshot
from tagging import basket, clean, features, forgetting, identity, models, personas, tags
from tagging.attribution import inputs as attribution
from tagging.basket import Mined
from tagging.catalog_rules import CatalogRule
from tagging.identity import DEVICE_ID, USER_ID
from tagging.identity import PERSON as P
from tagging.ingest import Source, connect, cursor, memtable, read_source
from tagging.parsing import parse_timestamp
from tagging.recommend import likely_next, recommend
from tagging.run import collect, quality
from tagging.run.options import RunOptions, end_of_day
from tagging.shop import Shop

TAG_ORDER = ["key", "value", P]
Progress = Callable[[str, str, float], None]  # (stage, what happened, seconds)
T = TypeVar("T")
# The event columns later stages read (features, models, tags): p_events holds only these,
# not the file's identifiers, user agents, queries or sessions (most of its size).
EVENT_COLUMNS_READ = ("event_type", "ts", "item_id", "category", "brand", "platform", "os")
# What each source's rows get as its file is read (tagging.ingest.read_source's checks).
CHECKS = {"events": clean.check_events}


class Pipeline:
    """The stages of one run over one DuckDB connection; each materialises what the next reads."""

    def __init__(
        self, options: RunOptions, rules: list[CatalogRule], shop: Shop, progress: Progress | None
    ):
        self.options = options
        self.rules = rules
        self.shop = shop
        # The shop's own non-merchandise words, where its shop.toml names them.
        self.persona_params = (
            options.personas
            if shop.non_merchandise is None
            else replace(options.personas, exclude_categories=shop.non_merchandise)
        )
        self.progress = progress
        self._spill = tempfile.TemporaryDirectory(prefix="portrait-spill-")
        self.con: DuckDBBackend = connect(
            memory_limit=options.duckdb_memory_limit,
            spill_dir=self._spill.name,
            zone=shop.timezone,
        )
        self.timings: dict[str, float] = {}
        # Identifiers of forgotten persons this run met (tagging.forgetting.without_suppressed).
        self.forgotten: pd.DataFrame | None = None
        self.withheld = 0  # quarantined rows not kept because they name a forgotten person
        # Work that overlaps the stages in the main thread (clustering, fitting models).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portrait-run")

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        started = time.perf_counter()
        notes: list[str] = []
        yield notes
        seconds = round(time.perf_counter() - started, 3)
        self.timings[name] = seconds
        if self.progress:
            self.progress(name, "; ".join(notes), seconds)

    def keep(self, name: str, table: ir.Table) -> ir.Table:
        return collect.keep(self.con, name, table)

    def count(self, table: ir.Table) -> int:
        return collect.count(table)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *_exc: object) -> None:
        """The DuckDB connection and its spill folder end with the pipeline, after the write:
        the snapshot's large parts are read from DuckDB while the store writes them."""
        self._pool.shutdown(cancel_futures=True)
        self.con.disconnect()
        self._spill.cleanup()

    def execute(self, paths: dict[str, Path]) -> Snapshot:
        with self.stage("ingest") as notes:
            sources = {name: self._read(name, path) for name, path in paths.items()}
            raw = {name: source.rows for name, source in sources.items()}
            notes.append(", ".join(f"{n} {self.count(t):,}" for n, t in raw.items()))
        with self.stage("clean") as notes:
            as_of = self._as_of(raw, paths["orders"])
            steps = self._clean(raw, as_of)
            quality.require_orders(paths["orders"], raw["orders"], steps["orders"], as_of=as_of)
            data_quality = quality.quality_report(raw, steps, sources, count=self.count)
            notes.append(", ".join(f"{n} kept {q['kept']:,}" for n, q in data_quality.items()))
            for name in raw.keys() - {"events"}:
                self._drop_source(name)
        with self.stage("identity") as notes:
            persons, identifiers = self._identity(steps)
            notes.append(f"{len(persons):,} persons from {self.count(identifiers):,} identifiers")
            if self.forgotten is not None and len(self.forgotten):
                notes.append(f"{self.forgotten[P].nunique():,} forgotten left out")
        with self.stage("features") as notes:
            person_tables = self._attach_persons(steps, identifiers, len(persons))
            # Clustering and fitting the models need no queries once their frames are read:
            # they run one after the other on the other core while the features, the basket
            # rules and the tags are worked out here, and are collected for the models and
            # personas stages. The models' frames need only the orders and events, so they
            # are read first, here, and the worker starts on them at once: read on the worker,
            # the fitting overlapped the tag queries and raised a large run's peak memory.
            modelling = self._pool.submit(
                _on_one_thread,
                models.fit_and_score,
                # Handed straight to the worker, which lets go of the frames once it has fitted.
                models.training_data(
                    person_tables["orders"],
                    person_tables.get("events"),
                    as_of=as_of,
                    params=self.options.models,
                ),
                self.options.models,
            )
            wide = self.keep("features", features.person_features(person_tables, as_of=as_of))
            buyers = personas.buying_features(wide, person_tables["items"], self.persona_params)
            clustering = self._pool.submit(
                _on_one_thread, personas.cluster, buyers, self.persona_params
            )
            # Then the baskets file, which needs only p_items (about 1 s of sorting at 100k).
            baskets = self._pool.submit(self._baskets_file)
            if "users" in person_tables:
                # Each person's primary account with its age: read by demographic tags and by
                # person attributes, so worked out once.
                people = features.people(person_tables["users"], wide)
                person_tables["people"] = self.keep("people", people)
            notes.append(f"{len(wide.columns) - 1} features")
            outcomes, covered = models.outcomes(
                steps["orders"].after_as_of,
                steps["events"].after_as_of if "events" in steps else None,
                self.con.table("identity"),
                as_of=as_of,
            )
        attributed: dict[str, dict[str, Any]] = {}
        kept_files: dict[str, bytes] = {}
        touched: tuple[pd.DataFrame, pd.DataFrame] | None = None  # touches, orders
        if "touches" in person_tables:
            # Without a touches file there are no paths that end in nothing, and the orders'
            # own channels alone give each order to itself.
            with self.stage("attribute") as notes:
                touched = attribution.touch_frames(
                    person_tables["touches"],
                    person_tables["orders"],
                    order_touches=self.shop.order_touches,
                )
                attributed["attribution"] = attribution.run_report(
                    *touched, self.options.attribution
                )
                kept_files[attribution.ATTRIBUTION_FILE] = attribution.kept_file(*touched)
                notes.append(f"{len(touched[0]):,} touches")
        with self.stage("basket") as notes:
            mined = self._basket(person_tables)
            notes.append(mined.summary())
        with self.stage("tags") as notes:
            parts = tags.base_tags(
                wide,
                person_tables,
                lifecycle=self.options.lifecycle,
                rules=self.rules,
                catalog=str(self.options.catalog),
            )
            base = self.keep("tags_base", ibis.union(*parts, mined.tags()))
            if "events" in person_tables:
                self._drop_spent("p_events")  # the events' last readers were these tags
        with self.stage("models") as notes:
            scores, model_report = modelling.result()
            scored = self.keep("scores", memtable(scores))
            notes.append(models.summary(model_report))
        with self.stage("personas") as notes:
            persona_rows, persona_tags, persona_report = personas.named(
                buyers,
                clustering.result(),
                base,
                materialise=self.keep,
                params=self.persona_params,
            )
            notes.append(f"{len(persona_rows)} personas")
            if touched is not None and len(persona_rows):
                members = persona_tags.select(P, persona=persona_tags.value)
                attributed["attribution"]["personas"] = attribution.by_persona(
                    *touched, members.to_pyarrow().to_pandas(), self.options.attribution
                )
            # Sorted as the store clusters them; streamed to the store, never held in pandas.
            every = ibis.union(base, *tags.score_tags(scored), persona_tags)
            tag_table = self.keep("tags", every.order_by(TAG_ORDER))
            self._drop_spent("tags_base")
            tag_rows = collect.batches(self.con, tag_table)
            notes.append(f"{tag_rows.count:,} tag rows")
        with self.stage("collect") as notes:
            quarantine, self.withheld = collect.quarantine(
                self.con, steps, self.options, self.forgotten
            )
            products = steps["products"].kept if "products" in steps else None
            snapshot = Snapshot(
                persons=collect.person_rows(self.con, persons, person_tables.get("people")),
                identifiers=collect.batches(self.con, identifiers),
                tags=tag_rows,
                features=collect.feature_rows(self.con, wide),
                definitions=tags.definitions(tag_table, self.rules),
                quarantine=quarantine,
                quality=data_quality,
                reports={
                    "basket": mined.report(),
                    "models": model_report,
                    "personas": persona_report,
                    "outcomes": {"covered_days": covered, "persons_ordering": len(outcomes)},
                    **attributed,
                    **forgetting.report(self.forgotten, self.withheld),
                },
                outcomes=outcomes,
                personas=persona_rows,
                files={BASKETS_FILE: baskets.result(), **kept_files},
                rules=mined.rule_rows(),
                recommendations=collect.batches(self.con, mined.recommendations),
                items=collect.catalog_items(products, person_tables["items"], mined),
                timings=self.timings,
                as_of=as_of.replace(tzinfo=ZoneInfo(self.shop.timezone)).astimezone(UTC),
            )
            notes.append(f"{row_count(snapshot.quarantine):,} rows quarantined")
        return snapshot

    def _read(self, name: str, path: Path) -> Source:
        return read_source(
            self.con,
            name,
            path,
            checks=CHECKS.get(name),
            workdir=Path(self._spill.name),
            encoding=self.shop.encoding,
            columns=self.shop.columns.get(name),
        )

    def _as_of(self, raw: dict[str, ir.Table], orders: Path) -> datetime:
        """The given day's end (the shop's day), else the latest timestamp of an order or
        (checked) event, on the shop's clock."""
        quality.require_rows(orders, raw["orders"])
        if self.options.as_of is not None:
            return end_of_day(self.options.as_of)
        latest = [parse_timestamp(raw["orders"].ts).max()]
        if "events" in raw:
            latest.append(self.con.table("checked_events")._ts.max())
        values = [v.to_pyarrow().as_py() for v in latest]
        found = [v for v in values if v is not None]
        if not found:
            raise quality.no_timestamps(orders, raw["orders"])
        return max(found)

    def _clean(self, raw: dict[str, ir.Table], as_of: datetime) -> dict[str, clean.Step]:
        steps: dict[str, clean.Step] = {}
        if "users" in raw:
            users = clean.clean_users(
                raw["users"], as_of=as_of, genders=self.shop.vocabulary("gender")
            )
            steps["users"] = self._settle(users)
        steps["orders"] = self._settle(clean.clean_orders(raw["orders"], as_of=as_of))
        if "order_items" in raw:
            steps["order_items"] = self._settle(
                clean.clean_order_items(
                    raw["order_items"], orders_raw=raw["orders"], orders=steps["orders"]
                )
            )
        if "products" in raw:
            steps["products"] = self._settle(clean.clean_products(raw["products"]))
        if "identities" in raw:
            steps["identities"] = self._settle(clean.clean_identities(raw["identities"]))
        if "touches" in raw:
            steps["touches"] = self._settle(clean.clean_touches(raw["touches"], as_of=as_of))
        if "events" in raw:
            events = clean.clean_events(
                self.con.table("checked_events"),
                as_of=as_of,
                bot_events_per_minute=self.options.bot_events_per_minute,
                event_types=self.shop.vocabulary("event_type"),
            )
            # The kept events are read for a column or two by the quality report and identity,
            # then once whole with their persons (p_events): a typed copy of every event in
            # between took as much time and memory as p_events.
            steps["events"] = self._settle(events, keep_rows=False)
        return steps

    def _settle(self, cleaning: clean.Cleaning, *, keep_rows: bool = True) -> clean.Step:
        """Materialise the marked rows once, then every part later stages read, so that the
        source's text rows can go once cleaning is done (`_drop_source`).

        Without `keep_rows` the kept rows stay a join of the source with its marks, read once
        more by whoever materialises them (events: `_attach_persons`, with their persons).
        """
        source = cleaning.source
        marks = self.keep(f"marks_{source}", cleaning.marks)
        rows = self.con.table(f"source_{source}")
        step = cleaning.split(marks, rows)
        return clean.Step(
            kept=self.keep(f"clean_{source}", step.kept) if keep_rows else step.kept,
            quarantined=self.keep(f"quarantined_{source}", step.quarantined),
            after_as_of=self.keep(f"later_{source}", step.after_as_of),
            unreadable=cleaning.unreadable(rows),
        )

    def _drop_spent(self, *tables: str) -> None:
        """Tables no later query reads. At 1M users DuckDB works near its memory limit from the
        features on, and would otherwise spill these to disk to make room."""
        for table in tables:
            self.con.drop_table(table)

    def _drop_source(self, name: str) -> None:
        """A source's text rows and marks, once nothing reads them again."""
        self.con.drop_view(f"source_{name}")
        self.con.drop_view(f"checked_{name}", force=True)
        for table in (f"source_{name}_rows", f"marks_{name}"):
            self.con.drop_table(table)

    def _identity(self, steps: dict[str, clean.Step]) -> tuple[pd.DataFrame, ir.Table]:
        """Number every identifier, link those seen together, one person per component.

        Returns the persons and the `identity` table (kind, identifier, person_idx).
        """
        actors = None
        if "events" in steps:
            # Each (user_id, device_id) the events name, once: the kept events are not
            # materialised, and three queries (users, devices, pairs) would each read them all.
            events = steps["events"].kept
            actors = self.keep("actors", events.select("user_id", "device_id").distinct())
        kept = {name: step.kept for name, step in steps.items()}
        mentions, links = identity.mentions_and_links(kept, actors)
        found = identity.resolve(
            ibis.union(*mentions),
            ibis.union(*links) if links else None,
            materialise=self.keep,
            id_key=self.options.id_key,
        )
        if self.options.suppressed:
            found = self._without_suppressed(found)
        # In the store's key order, which its load is fastest in.
        table = self.keep(
            "identity", found.identifiers().drop("node").order_by(["kind", "identifier"])
        )
        self.con.drop_table(identity.NODES_TABLE)
        self.con.drop_table("actors", force=True)
        return found.persons, table

    def _without_suppressed(self, found: identity.Resolution) -> identity.Resolution:
        """`found` without the forgotten persons (`self.forgotten`): every identifier is read
        and hashed, which only a suppression list needs."""
        identifiers = found.identifiers().to_pyarrow().to_pandas()
        persons, kept, self.forgotten = forgetting.without_suppressed(
            found.persons, identifiers, listed=self.options.suppressed, id_key=self.options.id_key
        )
        return replace(found, persons=persons, members=kept[["node", P]])

    def _attach_persons(
        self, steps: dict[str, clean.Step], ids: ir.Table, n_persons: int
    ) -> dict[str, ir.Table]:
        users = ids.filter(ids.kind == USER_ID).select(_uid=ids.identifier, _p_user=ids.person_idx)
        devices = ids.filter(ids.kind == DEVICE_ID).select(
            _did=ids.identifier, _p_device=ids.person_idx
        )
        out: dict[str, ir.Table] = {
            "persons": self.keep(
                "persons", ibis.memtable(pa.table({P: pa.array(range(n_persons), pa.int64())}))
            )
        }
        orders = steps["orders"].kept
        orders = orders.join(users, orders.user_id == users._uid).rename({P: "_p_user"})
        out["orders"] = self.keep("p_orders", orders.drop("_uid"))
        if "users" in steps:
            u = steps["users"].kept
            u = u.join(users, u.user_id == users._uid).rename({P: "_p_user"})
            out["users"] = self.keep("p_users", u.drop("_uid"))
        if "events" in steps:
            e = steps["events"].kept
            e = e.left_join(users, e.user_id == users._uid).left_join(
                devices, e.device_id == devices._did
            )
            e = e.mutate(**{P: e._p_user.fill_null(e._p_device)})
            e = e.filter(e[P].notnull())  # a forgotten person's events (the rest have one)
            out["events"] = self.keep("p_events", e.select(P, *EVENT_COLUMNS_READ))
            # p_events holds the kept events from here on; the file's text rows are not read
            # again, and would otherwise stay in memory.
            self._drop_source("events")
        if "touches" in steps:
            t = steps["touches"].kept
            t = t.left_join(users, t.user_id == users._uid).left_join(
                devices, t.device_id == devices._did
            )
            t = t.mutate(**{P: t._p_user.fill_null(t._p_device)})
            t = t.filter(t[P].notnull())  # a forgotten person's touches
            out["touches"] = self.keep("p_touches", t.select(*attribution.TOUCH_COLUMNS))
        items = features.person_items(
            steps["order_items"].kept if "order_items" in steps else None,
            out["orders"],
            products=steps["products"].kept if "products" in steps else None,
        )
        out["items"] = self.keep("p_items", items)
        # The kept rows live on in the p_ tables; from here on a source is read there, or in
        # its quarantined and later rows (products, small, stay for the catalog's names).
        self._drop_spent(*(f"clean_{name}" for name in steps.keys() - {"products", "events"}))
        return out

    def _basket(self, t: dict[str, ir.Table]) -> Mined:
        """Rules at item and category level, and what they recommend to each person."""
        params = self.options.basket
        # The pairs are kept: counting reads them three times (baskets, entries, candidates).
        sets = {
            level: basket.mine_rules(
                self.keep(f"basket_pairs_{level}", basket.basket_pairs(t["items"], column)),
                params,
                level=level,
            )
            for level, column in (("item", "item_id"), ("category", "category"))
        }
        self._drop_spent(*(f"basket_pairs_{level}" for level in sets))
        recommended = recommend(t["items"], t["orders"], sets["item"].rules, params)
        next_category = likely_next(
            t["items"], t["orders"], sets["category"].rules, params, materialise=self.keep
        )
        mined = Mined(
            sets=sets,
            recommendations=self.keep("recommendations", recommended.order_by([P, "rank"])),
            next_category=self.keep("likely_next_category", next_category),
        )
        self._drop_spent("recent_categories", "fired_category_rules")
        return mined

    def _baskets_file(self) -> bytes:
        """`basket.baskets_file` of p_items, on the worker thread, on a cursor of its own."""
        with cursor(self.con) as own:
            return basket.baskets_file(own, own.table("p_items"), Path(self._spill.name))


def _on_one_thread(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`work` with scikit-learn's OpenMP loops on one thread (in the calling thread only).

    The run keeps both cores busy with such work (models, clustering) beside its queries. Two
    OpenMP teams of two on two cores, or one team beside DuckDB or another process, wait at
    every barrier for a thread that is not running: 100k models took 3 s on an idle machine
    and 15-40 s on a busy one, against 4.5-5.3 s on one thread.
    """
    with threadpool_limits(limits=1, user_api="openmp"):
        return work(*args, **kwargs)
