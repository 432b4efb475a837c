"""The stages of one tagging run over one DuckDB connection: ingest, clean, identity, features,
(attribute), basket, tags, models, personas, collect. `Pipeline.execute` lists them; each
stage's work is in the module of its concept, and `tagging.run.runner` wraps them with the
store's run bookkeeping."""

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
from ibis.backends.duckdb import Backend as DuckDBBackend
from threadpoolctl import threadpool_limits

from store.basket import BASKETS_FILE
from store.snapshot.bulk import row_count
from store.snapshot.write import Snapshot
from tagging import (
    basket,
    clean,
    dictionaries,
    features,
    forgetting,
    identity,
    models,
    personas,
    persons,
    tags,
)
from tagging.attribution import inputs as attribution
from tagging.basket import Mined
from tagging.catalog_rules import CatalogRule
from tagging.identity import PERSON as P
from tagging.ingest import Source, connect, cursor, memtable, read_source
from tagging.live import shopping as live_shopping
from tagging.recommend import mine_and_recommend
from tagging.run import collect, quality
from tagging.run.options import RunOptions, end_of_day
from tagging.run.stages import Attributed, Cleaned, Featured, Tagged
from tagging.shop import Shop

TAG_ORDER = ["key", "value", P]
Progress = Callable[[str, str, float], None]  # (stage, what happened, seconds)
T = TypeVar("T")


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
        # Seconds of each table materialised and each named piece of work, by stage, and a
        # stage's seconds outside them ("other"): the run's "profile" report, where its time
        # went (wall time, while the worker thread's fitting shares the machine).
        self.profile: dict[str, dict[str, float]] = {}
        self._stage = ""
        # Identifiers of forgotten persons this run met (tagging.forgetting.without_suppressed).
        self.forgotten: pd.DataFrame | None = None
        self.withheld = 0  # quarantined rows not kept because they name a forgotten person
        # Work that overlaps the stages in the main thread (clustering, fitting models).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portrait-run")

    @contextmanager
    def stage(self, name: str) -> Iterator[list[str]]:
        started = time.perf_counter()
        notes: list[str] = []
        outer, self._stage = self._stage, name
        steps = self.profile.setdefault(name, {})
        yield notes
        self._stage = outer
        seconds = round(time.perf_counter() - started, 3)
        self.timings[name] = seconds
        steps["other"] = round(max(0.0, seconds - sum(steps.values())), 3)
        if self.progress:
            self.progress(name, "; ".join(notes), seconds)

    def keep(self, name: str, table: ir.Table) -> ir.Table:
        with self.step(name):
            return collect.keep(self.con, name, table)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Times a piece of the stage under way into its profile (a name met twice adds up)."""
        started = time.perf_counter()
        yield
        steps = self.profile.setdefault(self._stage, {})
        steps[name] = round(steps.get(name, 0.0) + time.perf_counter() - started, 3)

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
        """The stages in order; each reads what the ones before it left."""
        with self.stage("ingest") as notes:
            sources = self._ingest(paths, notes)
        with self.stage("clean") as notes:
            cleaned = self._clean(sources, paths["orders"], notes)
        with self.stage("identity") as notes:
            found = self._identity(cleaned.steps, notes)
        with self.stage("features") as notes:
            featured = self._features(cleaned, found, notes)
        attributed = self._attribute(featured.tables)
        with self.stage("basket") as notes:
            mined = self._basket(featured.tables, notes)
        with self.stage("tags") as notes:
            base = self._tags(featured, mined)
        with self.stage("models") as notes:
            scored, model_report = self._models(featured, notes)
        with self.stage("personas") as notes:
            tagged = self._personas(featured, base, scored, attributed, notes)
        with self.stage("collect") as notes:
            reports = {"basket": mined.report(), "models": model_report, **tagged.reports}
            return self._collect(cleaned, found, featured, mined, tagged, reports, notes)

    def _ingest(self, paths: dict[str, Path], notes: list[str]) -> dict[str, Source]:
        sources = {name: self._read(name, path) for name, path in paths.items()}
        notes.append(", ".join(f"{n} {self.count(s.rows):,}" for n, s in sources.items()))
        return sources

    def _clean(self, sources: dict[str, Source], orders: Path, notes: list[str]) -> Cleaned:
        raw = {name: source.rows for name, source in sources.items()}
        as_of = self._as_of(raw, orders)
        steps = clean.clean_sources(
            sources,
            as_of=as_of,
            shop=self.shop,
            bot_events_per_minute=self.options.bot_events_per_minute,
            materialise=self.keep,
        )
        with self.step("quality report"):
            quality.require_orders(orders, raw["orders"], steps["orders"], as_of=as_of)
            data_quality = quality.quality_report(raw, steps, sources, count=self.count)
        notes.append(", ".join(f"{n} kept {q['kept']:,}" for n, q in data_quality.items()))
        for name in raw.keys() - {"events"}:
            self._drop_source(name)
        for name in raw:
            self._drop_text(name)
        return Cleaned(as_of, steps, data_quality)

    def _identity(self, steps: dict[str, clean.Step], notes: list[str]) -> persons.Persons:
        found = persons.identify(
            steps,
            id_key=self.options.id_key,
            suppressed=self.options.suppressed,
            materialise=self.keep,
        )
        self.con.drop_table(identity.NODES_TABLE)
        self.forgotten = found.forgotten
        notes.append(
            f"{len(found.persons):,} persons from {self.count(found.identifiers):,} identifiers"
        )
        if self.forgotten is not None and len(self.forgotten):
            notes.append(f"{self.forgotten[P].nunique():,} forgotten left out")
        return found

    def _features(self, cleaned: Cleaned, found: persons.Persons, notes: list[str]) -> Featured:
        steps = cleaned.steps
        keyed = [steps[n].kept for n in ("events", "order_items", "products") if n in steps]
        with self.step("dictionaries"):
            types = dictionaries.define(self.con, keyed)

        def encoded(name: str, table: ir.Table) -> ir.Table:
            with self.step(name):
                return dictionaries.keep_encoded(self.con, name, table, types)

        tables = persons.attach(steps, found, materialise=self.keep, encoded=encoded)
        # p_events and the other p_ tables hold the kept rows from here on; a source is read
        # there, or in its quarantined and later rows (products, small, stay for the catalog).
        if "events" in tables:
            self._drop_source("events")
        self.con.drop_table("actors", force=True)
        self._drop_spent(*(f"clean_{n}" for n in cleaned.steps.keys() - {"products", "events"}))
        as_of = cleaned.as_of
        # Clustering and fitting the models need no queries once their frames are read:
        # they run one after the other on the other core while the features, the basket
        # rules and the tags are worked out here, and are collected for the models and
        # personas stages. The models' frames need only the orders and events, so they
        # are read first, here, and the worker starts on them at once: read on the worker,
        # the fitting overlapped the tag queries and raised a large run's peak memory.
        params = self.options.models
        # The order features as of as_of: the models' latest frame and the feature table
        # read them (worked out for each, they were 0.6 s of CPU of each at 100k users).
        ordered = self.keep(
            "order_features", features.order_features(tables["orders"], as_of=as_of)
        )
        with self.step("models' frames"):
            frames = models.training_data(
                tables["orders"], tables.get("events"), as_of=as_of, params=params, now=ordered
            )
        # Handed straight to the worker, which lets go of the frames once it has fitted.
        modelling = self._pool.submit(_on_one_thread, models.fit_and_score, frames, params)
        wide = features.person_features(tables, as_of=as_of, ordered=ordered)
        wide = self.keep("features", wide)
        self._drop_spent("order_features")
        with self.step("personas' frame"):
            buyers = personas.buying_features(wide, tables["items"], self.persona_params)
        clustering = self._pool.submit(
            _on_one_thread, personas.cluster, buyers, self.persona_params
        )
        # Then the baskets file, which needs only p_items (about 1 s of sorting at 100k).
        baskets = self._pool.submit(self._baskets_file)
        # Each person's category weights: read by the shopping file and preferred_category.
        weights = features.preference_weights(tables.get("events"), tables["items"], "category")
        tables["category_weights"] = self.keep("category_weights", weights)
        spill = Path(self._spill.name)
        with self.step("live shopping file"):
            shopping = live_shopping.shopping_file(
                self.con,
                tables.get("events"),
                tables["orders"],
                tables["items"],
                tables["category_weights"],
                spill,
                recent_orders=self.options.basket.recent_orders,
            )
        if "users" in tables:
            # Each person's primary account with its age: read by demographic tags and by
            # person attributes, so worked out once.
            tables["people"] = self.keep("people", features.people(tables["users"], wide))
        notes.append(f"{len(wide.columns) - 1} features")
        with self.step("outcomes"):
            outcomes = models.outcomes(
                steps["orders"].after_as_of,
                steps["events"].after_as_of if "events" in steps else None,
                self.con.table("identity"),
                as_of=as_of,
            )
        return Featured(tables, wide, buyers, modelling, clustering, baskets, outcomes, shopping)

    def _attribute(self, tables: dict[str, ir.Table]) -> Attributed | None:
        """Without a touches file there are no paths that end in nothing, and the orders' own
        channels alone give each order to itself: no attribution."""
        if "touches" not in tables:
            return None
        with self.stage("attribute") as notes:
            touched = attribution.touch_frames(
                tables["touches"], tables["orders"], order_touches=self.shop.order_touches
            )
            report = attribution.run_report(*touched, self.options.attribution)
            notes.append(f"{len(touched[0]):,} touches")
            return Attributed(touched, report, attribution.kept_file(*touched))

    def _basket(self, tables: dict[str, ir.Table], notes: list[str]) -> Mined:
        mined = mine_and_recommend(
            tables["items"],
            tables["orders"],
            self.options.basket,
            materialise=self.keep,
            spent=self._drop_spent,
            timed=self.step,
        )
        notes.append(mined.summary())
        return mined

    def _tags(self, featured: Featured, mined: Mined) -> ir.Table:
        parts = tags.base_tags(
            featured.wide,
            featured.tables,
            lifecycle=self.options.lifecycle,
            rules=self.rules,
            catalog=str(self.options.catalog),
        )
        base = self.keep("tags_base", ibis.union(*parts, mined.tags()))
        # The events' and the category weights' last readers were these tags.
        self._drop_spent("category_weights")
        if "events" in featured.tables:
            self._drop_spent("p_events")
        return base

    def _models(self, featured: Featured, notes: list[str]) -> tuple[ir.Table, dict[str, Any]]:
        with self.step("waiting for the models"):
            scores, model_report = featured.modelling.result()
        notes.append(models.summary(model_report))
        return self.keep("scores", memtable(scores)), model_report

    def _personas(
        self,
        featured: Featured,
        base: ir.Table,
        scored: ir.Table,
        attributed: Attributed | None,
        notes: list[str],
    ) -> Tagged:
        with self.step("waiting for the clustering"):
            clusters = featured.clustering.result()
        persona_rows, persona_tags, persona_report = personas.named(
            featured.buyers,
            clusters,
            base,
            materialise=self.keep,
            params=self.persona_params,
        )
        notes.append(f"{len(persona_rows)} personas")
        reports: dict[str, dict[str, Any]] = {"personas": persona_report}
        files: dict[str, bytes] = {}
        if attributed is not None:
            reports["attribution"] = attributed.report
            files[attribution.ATTRIBUTION_FILE] = attributed.file
            if len(persona_rows):
                members = persona_tags.select(P, persona=persona_tags.value)
                attributed.report["personas"] = attribution.by_persona(
                    *attributed.touched,
                    members.to_pyarrow().to_pandas(),
                    self.options.attribution,
                )
        # Sorted as the store clusters them; streamed to the store, never held in pandas.
        every = ibis.union(base, *tags.score_tags(scored), persona_tags)
        tag_table = self.keep("tags", every.order_by(TAG_ORDER))
        self._drop_spent("tags_base")
        rows = collect.batches(self.con, tag_table)
        notes.append(f"{rows.count:,} tag rows")
        return Tagged(tag_table, rows, persona_rows, reports, files)

    def _collect(
        self,
        cleaned: Cleaned,
        found: persons.Persons,
        featured: Featured,
        mined: Mined,
        tagged: Tagged,
        reports: dict[str, dict[str, Any]],
        notes: list[str],
    ) -> Snapshot:
        steps = cleaned.steps
        with self.step("quarantine"):
            quarantine, self.withheld = collect.quarantine(
                self.con, steps, self.options, self.forgotten
            )
        products = steps["products"].kept if "products" in steps else None
        outcomes, covered = featured.outcomes
        files = {
            BASKETS_FILE: featured.baskets.result(),
            live_shopping.FILE: featured.shopping,
            **tagged.files,
        }
        if products is not None:
            files[live_shopping.CATEGORIES_FILE] = live_shopping.categories_file(
                self.con, products, Path(self._spill.name)
            )
        snapshot = Snapshot(
            persons=collect.person_rows(self.con, found.persons, featured.tables.get("people")),
            identifiers=collect.batches(self.con, found.identifiers),
            tags=tagged.rows,
            features=collect.feature_rows(self.con, featured.wide),
            definitions=tags.definitions(tagged.table, self.rules),
            quarantine=quarantine,
            quality=cleaned.quality,
            reports={
                **reports,
                # Filled in to the end of the collect stage, before the store writes it.
                "profile": {"seconds": self.profile},
                "outcomes": {"covered_days": covered, "persons_ordering": len(outcomes)},
                **forgetting.report(self.forgotten, self.withheld),
            },
            outcomes=outcomes,
            personas=tagged.persona_rows,
            files=files,
            rules=mined.rule_rows(),
            recommendations=collect.batches(self.con, mined.recommendations),
            items=collect.catalog_items(products, featured.tables["items"], mined),
            timings=self.timings,
            as_of=cleaned.as_of.replace(tzinfo=ZoneInfo(self.shop.timezone)).astimezone(UTC),
        )
        notes.append(f"{row_count(snapshot.quarantine):,} rows quarantined")
        collect.keep_only(self.con, snapshot)
        return snapshot

    def _read(self, name: str, path: Path) -> Source:
        with self.step(f"read {name}"):
            source = self._read_source(name, path)
        if source.text_of is None:
            return source
        text_of = source.text_of

        def timed(numbers: ir.Table) -> ir.Table:
            with self.step(f"text of quarantined {name}"):
                return text_of(numbers)

        return replace(source, text_of=timed)

    def _read_source(self, name: str, path: Path) -> Source:
        return read_source(
            self.con,
            name,
            path,
            checks=clean.CHECKS.get(name),
            checks_of_sample=clean.CHECKS_OF_SAMPLE.get(name),
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
        latest = [raw["orders"]._ts.max()]
        if "events" in raw:
            latest.append(raw["events"]._ts.max())
        values = [v.to_pyarrow().as_py() for v in latest]
        found = [v for v in values if v is not None]
        if not found:
            raise quality.no_timestamps(orders, raw["orders"])
        return max(found)

    def _drop_spent(self, *tables: str) -> None:
        """Tables no later query reads. At 1M users DuckDB works near its memory limit from the
        features on, and would otherwise spill these to disk to make room."""
        for table in tables:
            self.con.drop_table(table)

    def _drop_source(self, name: str) -> None:
        """A source's text rows and marks, once nothing reads them again."""
        self.con.drop_view(f"source_{name}")
        for view in (f"checked_{name}", f"text_{name}", f"file_{name}"):
            self.con.drop_view(view, force=True)
        for table in (f"source_{name}_rows", f"marks_{name}"):
            self.con.drop_table(table)

    def _drop_text(self, name: str) -> None:
        """The text of a source's quarantined rows, once they are (`Source.text_of`)."""
        self.con.drop_view(f"text_{name}", force=True)
        for table in (f"wanted_{name}", f"found_{name}"):
            self.con.drop_table(table, force=True)

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
