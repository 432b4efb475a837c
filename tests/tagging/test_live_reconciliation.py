"""Reconciliation: a day of the generator's shop taken in live gives, for every person it
touched, exactly the maintained tags that a batch run over all of the data gives them.

The shop is tagged as of the day before its last; the last day's events and orders (each with
its lines) are posted through the live path (`api.live.ingest.Ingest`, as POST /events takes
them) and applied by `LiveTags` (half by one instance, the rest by another, as across a
restart); then a run over every file is the truth to compare with, person number by number.
The buyers' recommendations are compared with the batch rule fired with the first run's item
rules (a later run mines its own).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from api.live.ingest import Ingest
from store import basket
from store.live import log as live
from store.live import profiles as live_profiles
from store.profiles import reads as profile_reads
from store.runs import reads as run_reads
from tagging.basket import BasketParams
from tagging.ingest import memtable
from tagging.live import shopping
from tagging.live.incremental import LiveTags
from tagging.live.rules import MAINTAINED
from tagging.recommend import recommend
from tagging.run import RunOptions, run_tagging

ID_KEY = "test-id-key-0123456789"
POSTED_PER_REQUEST = 500
# Of the 937 rows of the last day (and the few after it) cleaning takes 922; they name 198
# persons (156 of them order), and the turn of the day changes the tags of 21 more.
EXPECTED_POSTED = 922
EXPECTED_NAMED = 198
EXPECTED_TOUCHED = 219
# Of them, the day's carts and order lines changed the cart_abandoner tag of so many, and the
# preferred categories of so many.
SHOPPING_KEYS = ("cart_abandoner", "preferred_category")
# Buyers of the day with any recommendation, and those whose list the day changed.
EXPECTED_RECOMMENDED = (77, 42)
EXPECTED_MOVED = {"cart_abandoner": 25, "preferred_category": 156}


def _instant(text: str) -> datetime | None:
    """When a generated timestamp is (the generator writes epochs and ISO text with offsets;
    the shop's zone is UTC); None for the ones cleaning rejects."""
    try:
        if text.isdigit():
            number = int(text)
            return datetime.fromtimestamp(number / 1000 if len(text) >= 13 else number, UTC)
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found.astimezone(UTC) if found.tzinfo else found.replace(tzinfo=UTC)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def _split(shop: Path, before: Path) -> tuple[date, list[dict[str, str]]]:
    """Copy `shop` to `before` without the events and orders of its last day and after (the
    shop's zone is UTC, and the latest orders end a little into the next day); the first day
    left out and the rows left out (orders marked with their source), in file order, each
    order followed by its lines (marked too: they are posted with it). The lines stay in the
    copy's file: a run leaves out lines of orders it does not have."""
    shutil.copytree(shop, before, ignore=shutil.ignore_patterns("truth"))
    rows = {n: _read(shop / f"{n}.csv") for n in ("events", "orders")}
    days = [t.date() for r in rows["orders"] if (t := _instant(r["ts"])) is not None]
    last = max(days) - timedelta(days=1)
    later: list[dict[str, str]] = []
    for name, found in rows.items():
        late = [(t := _instant(r["ts"])) is not None and t.date() >= last for r in found]
        mark = {"source": "orders"} if name == "orders" else {}
        later += [r | mark for r, is_late in zip(found, late, strict=True) if is_late]
        with (before / f"{name}.csv").open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(found[0]))
            writer.writeheader()
            writer.writerows(r for r, is_late in zip(found, late, strict=True) if not is_late)
    lines: dict[str, list[dict[str, str]]] = {}
    for line in _read(shop / "order_items.csv"):
        lines.setdefault(line["order_id"], []).append(line | {"source": "order_items"})
    return last, [r for row in later for r in [row, *_lines_of(row, lines)]]


def _lines_of(row: dict[str, str], lines: dict[str, list[dict[str, str]]]) -> list[dict[str, str]]:
    return lines.get(row["order_id"], []) if row.get("source") == "orders" else []


def _chunks(rows: list[dict[str, str]]) -> Iterator[tuple[int, list[dict[str, str | None]]]]:
    """Requests of about POSTED_PER_REQUEST rows (an order and its lines in one), each with
    the index of its first row."""
    start = 0
    while start < len(rows):
        end = min(start + POSTED_PER_REQUEST, len(rows))
        while end < len(rows) and rows[end].get("source") == "order_items":
            end += 1
        yield start, [{k: v or None for k, v in r.items()} for r in rows[start:end]]
        start = end


def _batch_tags(engine: Engine, run_id: int, numbers: list[int]) -> dict[int, dict[str, list]]:
    with engine.connect() as connection:
        found = profile_reads.tags_of_persons(
            connection=connection, run_id=run_id, person_idxs=numbers, keys=set(MAINTAINED)
        )
    tags: dict[int, dict[str, list]] = {n: {} for n in numbers}
    for t in found:
        tags[t.person_idx].setdefault(t.key, []).append((t.value, t.score))
    return tags


def test_a_day_taken_live_gives_the_tags_a_run_over_all_of_it_gives(
    engine: Engine, generated_shop: Path, tmp_path: Path
) -> None:
    first, later = _split(generated_shop, tmp_path / "before")
    run_tagging(engine=engine, options=RunOptions(tmp_path / "before", ID_KEY))
    ingest = Ingest(engine=engine, id_key=ID_KEY)
    try:
        answers = [(start, ingest.take(chunk)) for start, chunk in _chunks(later)]
    finally:
        ingest.close()
    # Half of it by one LiveTags, the rest by another, as after a restart: what the first
    # did is read back from the store, not from its memory.
    with engine.connect() as connection:
        events, orders = live.last_seqs(connection=connection)
    for through in ((events // 2, orders // 2), None):
        live_tags = LiveTags(id_key=ID_KEY)
        try:
            if through is None:
                live_tags.sweep(engine)
                # A micro-batch that the sweep got ahead of, then the sweep again: nothing
                # is applied twice.
                live_tags.advance(engine, events_through=1, orders_through=1)
                live_tags.sweep(engine)
            else:
                live_tags.advance(engine, events_through=through[0], orders_through=through[1])
        finally:
            live_tags.close()
    with engine.connect() as connection:
        run_id = run_reads.current_run(connection=connection).id  # type: ignore[union-attr]
        overlay = live_profiles.overlay_on(connection=connection, run_id=run_id)
        progress = live_profiles.progress(connection=connection)
    posted = _accepted(later, answers)
    touched = {row.person_idx: row for row in overlay}
    was = _batch_tags(engine, run_id, sorted(touched))
    full = run_tagging(engine=engine, options=RunOptions(generated_shop, ID_KEY)).run_id
    with engine.connect() as connection:
        as_of = run_reads.kept_run(connection=connection, run_id=full).as_of
        named = _numbers_named(connection, posted)
    # The live day is the run's as_of; the persons touched are the ones the batch run finds
    # behind the same identifiers (the same numbers); the buyers among them have the orders.
    assert progress is not None and progress.day == as_of.date()
    assert named <= touched.keys()
    with engine.connect() as connection:
        buyers = _numbers_named(connection, [r for r in posted if r.get("source") == "orders"])
    ordered = {n for n, row in touched.items() if (row.facts["last_order"] or "") >= str(first)}
    assert (len(posted), len(named), len(touched)) == (
        EXPECTED_POSTED,
        EXPECTED_NAMED,
        EXPECTED_TOUCHED,
    )
    assert ordered == buyers
    # The day moved each key for some of them (so that the comparison below means something).
    moved = {
        key: sum(
            sorted(row.tags.get(key, [])) != sorted(was[n].get(key, []))
            for n, row in touched.items()
        )
        for key in SHOPPING_KEYS
    }
    assert moved == EXPECTED_MOVED
    truth = _batch_tags(engine, full, sorted(touched))
    differ = {
        n: (row.tags, truth[n])
        for n, row in touched.items()
        if _sorted(row.tags) != _sorted(truth[n])
    }
    assert list(differ.items()) == []
    # The buyers' recommendations: the run's item rules fired on their latest orders. A run
    # over the day mines rules of its own (every support moves), so the truth is the batch
    # rule (`tagging.recommend.recommend`) with the first run's rules, over what the later run
    # keeps of each buyer's latest orders and purchases.
    truth_lists = _recommended_by_batch(engine, run_id, full, sorted(buyers))
    live_lists = {n: touched[n].facts["recommendations"] for n in buyers}
    assert live_lists == truth_lists
    with engine.connect() as connection:
        before = basket.recommendations(
            connection=connection, run_id=run_id, person_idxs=sorted(buyers)
        )
    was_lists: dict[int, list] = {n: [] for n in buyers}
    for r in before:
        was_lists[r.person_idx].append([r.item_id, r.score, r.rule_rank])
    changed = sum(live_lists[n] != was_lists[n] for n in buyers)
    assert (sum(map(bool, live_lists.values())), changed) == EXPECTED_RECOMMENDED


def _recommended_by_batch(
    engine: Engine, rules_of: int, run_id: int, persons: list[int]
) -> dict[int, list]:
    """Each person's [item_id, score, rule_rank] by `tagging.recommend.recommend` with the item
    rules of run `rules_of`, over run `run_id`'s record of their latest orders and purchases
    (its live shopping file)."""
    with engine.connect() as connection:
        rules = basket.rules(connection=connection, run_id=rules_of, level="item")
        content = run_reads.run_file(connection=connection, run_id=run_id, name=shopping.FILE)
    assert content is not None
    kept = pq.read_table(io.BytesIO(content)).to_pandas()
    kept = kept[kept["person_idx"].isin(persons)]
    orders = kept[kept["kind"] == shopping.ORDER].rename(columns={"value": "order_id"})
    recent = kept[kept["kind"] == shopping.RECENT].merge(
        orders[["person_idx", "weight", "order_id"]], on=["person_idx", "weight"]
    )
    bought = kept[kept["kind"] == shopping.BOUGHT].assign(order_id="")
    columns = ["person_idx", "order_id", "value"]
    items = pd.concat([recent[columns], bought[columns]])
    frame = pd.DataFrame(
        {
            "antecedents": [r.antecedents for r in rules],
            "consequents": [r.consequents for r in rules],
            "confidence": [r.confidence for r in rules],
            "consequent_support": [r.consequent_support for r in rules],
        }
    )
    fired = recommend(
        memtable(items.rename(columns={"value": "item_id"})),
        memtable(orders[["person_idx", "order_id", "ts"]]),
        frame,
        BasketParams(),
    )
    found: dict[int, list] = {n: [] for n in persons}
    for row in fired.order_by(["person_idx", "rank"]).to_pyarrow().to_pylist():
        found[row["person_idx"]].append([row["item_id"], row["score"], row["rule_rank"]])
    return found


def _sorted(tags: dict[str, list]) -> dict[str, list]:
    return {key: sorted(values) for key, values in tags.items()}


def _accepted(later: list[dict[str, str]], answers: list[tuple[int, dict]]) -> list[dict[str, str]]:
    """The posted rows the answers accepted (an error names a row by its index in its
    request), order lines left out."""
    refused = {start + error["index"] for start, answer in answers for error in answer["errors"]}
    return [
        row
        for i, row in enumerate(later)
        if i not in refused and row.get("source") != "order_items"
    ]


def _numbers_named(connection: Connection, rows: list[dict[str, str]]) -> set[int]:
    """The person numbers the registry gives the identifiers of `rows` (a user id first)."""
    found: set[int] = set()
    for row in rows:
        kind = "user_id" if row.get("user_id") else "device_id"
        numbers = live_profiles.numbers_of(
            connection=connection, kind=kind, identifiers=[row[kind]]
        )
        found |= set(numbers.values())
    return found
