"""Posted events, orders and order lines through batch cleaning: the same parsers, vocabularies,
duplicate and bot rules (`tagging.clean`), run by DuckDB over the posted rows as text, as a run
reads a file.

What cannot be decided from the posted rows alone is left to the next batch run: the bot rule
by rate sees the actor's events within one request only, and an actor found to be a bot later
keeps the events acknowledged before.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import ibis
import orjson
import pyarrow as pa
from ibis.backends.duckdb import Backend as DuckDBBackend

from tagging.clean.events import check_events, clean_events, typed_events
from tagging.clean.orders import (
    check_order_items,
    check_orders,
    clean_orders,
    typed_order_items,
    typed_orders,
)
from tagging.columns import normalised
from tagging.ingest import CONTRACT, ROW, connect

# Order lines are taken with their order, in the same request (`store.live.lines`).
SOURCES = ("events", "orders", "order_items")
# Every posted event is in scope: a run decides what falls after its own as_of.
AS_OF = datetime(2200, 1, 1)
# The field a cleaning reason is about (bot_rate: the actor's, see `_field`).
FIELD_OF_REASON = {
    "missing_identity": "user_id",
    "missing_event_type": "event_type",
    "bad_timestamp": "ts",
    "bad_price": "price",
    "duplicate_event_id": "event_id",
    "bot_user_agent": "user_agent",
    "missing_order_id": "order_id",
    "missing_user_id": "user_id",
    "bad_amount": "amount",
    "negative_amount": "amount",
    "bad_discount": "discount",
    "duplicate_order_id": "order_id",
    "missing_item_id": "item_id",
    "bad_quantity": "quantity",
    "order_not_posted": "order_id",
    "unknown_source": "source",
}
# Read as text and trimmed, as a run reads an identifier column (a stray space splits a person).
IDENTIFIERS = frozenset({"user_id", "device_id", "event_id", "order_id", "item_id", "session_id"})
DUCKDB_MEMORY = "512MB"


class Posted(NamedTuple):
    """One posted object, its fields as the text a file would hold."""

    position: int
    source: str
    fields: dict[str, str | None]
    raw: str


class Rejected(NamedTuple):
    """A posted object not used: why, and the field at fault (None: the object as a whole)."""

    position: int
    source: str
    reason: str
    field: str | None
    raw: str


class Kept(NamedTuple):
    position: int
    source: str
    row: dict[str, Any]  # typed as `tagging.clean` types the source's rows


def read_posted(
    items: Sequence[object], *, first_index: int = 0
) -> tuple[list[Posted], list[Rejected]]:
    """Posted JSON values as text fields of the contract's columns; objects that are none
    (not an object, an unknown `source`, a field that is no text or number) are rejected."""
    posted: list[Posted] = []
    rejected: list[Rejected] = []
    for position, item in enumerate(items, start=first_index):
        raw = orjson.dumps(item).decode()
        if not isinstance(item, dict):
            rejected.append(Rejected(position, "unknown", "not_an_object", None, raw))
            continue
        source = item.get("source", "events")
        if source not in SOURCES:
            rejected.append(Rejected(position, "unknown", "unknown_source", "source", raw))
            continue
        fields, bad = _fields(item, CONTRACT[source].columns)
        if bad is not None:
            rejected.append(Rejected(position, source, "not_text", bad, raw))
        else:
            posted.append(Posted(position, source, fields, raw))
    return posted, rejected


def not_json(position: int, line: bytes) -> Rejected:
    """A JSON line that does not parse."""
    return Rejected(position, "unknown", "not_json", None, line.decode("utf-8", "replace"))


def _fields(
    item: Mapping[str, object], columns: Sequence[str]
) -> tuple[dict[str, str | None], str | None]:
    fields: dict[str, str | None] = dict.fromkeys(columns)
    for key, value in item.items():
        name = normalised(str(key))
        if name not in fields:
            continue  # as a run ignores a file's other columns
        if isinstance(value, bool) or not isinstance(value, str | int | float | type(None)):
            return fields, name
        text = value if isinstance(value, str) or value is None else orjson.dumps(value).decode()
        if text is not None and name in IDENTIFIERS:
            text = text.strip()
        fields[name] = text or None  # an empty value is no value, as in a file
    return fields, None


class _Queries(NamedTuple):
    """A source's cleaning as SQL over the tables `posted_<source>` (the posted rows as text)
    and `posted_<source>_marks` (what the first query gives)."""

    marks: str
    typed: str


def _queries(source: str, *, bot_events_per_minute: int) -> _Queries:
    """Compiled once: compiling the expressions took three quarters of a request's cleaning."""
    columns = CONTRACT[source].columns
    raw = ibis.table(
        ibis.schema({ROW: "int64"} | dict.fromkeys(columns, "string")), f"posted_{source}"
    )
    # The source's checks as a file's (check_orders, check_events), then what needs the whole
    # batch (repeated ids, bots): every posted row's reason is the first that applies. An order
    # line's order is looked for among the request's orders once they are cleaned (`Ingest`).
    if source == "order_items":
        checked = check_order_items(raw)
        every = checked.select(ROW, _reason=checked._reason)
        good = checked.filter(checked._reason.isnull()).order_by(ROW)
        return _Queries(
            marks=ibis.to_sql(every, dialect="duckdb"),
            typed=ibis.to_sql(typed_order_items(good), dialect="duckdb"),
        )
    if source == "orders":
        checked = check_orders(raw)
        cleaning = clean_orders(checked, as_of=AS_OF)
    else:
        checked = check_events(raw)
        cleaning = clean_events(checked, as_of=AS_OF, bot_events_per_minute=bot_events_per_minute)
    late = cleaning.marks.select(ROW, _late=cleaning.marks._reason)
    early = checked.select(ROW, _early=checked._reason)
    both = early.left_join(late, ROW)
    every = both.select(ROW, _reason=ibis.coalesce(both._late, both._early))
    marks = ibis.table(every.schema(), f"posted_{source}_marks")
    kept = marks.filter(marks._reason.isnull()).select(ROW)
    # Sorted before typing, and a projection keeps that order: typed rows carry no `_row`.
    good = checked.join(kept, ROW).order_by(ROW)
    # A run needs no event id once repeats are found; the live path stores it, to find
    # repeats of events posted later.
    typed = typed_orders(good) if source == "orders" else typed_events(good, with_event_id=True)
    return _Queries(
        marks=ibis.to_sql(every, dialect="duckdb"),
        typed=ibis.to_sql(typed, dialect="duckdb"),
    )


class Cleaner:
    """One DuckDB connection in the shop's time zone, used by one batch at a time."""

    def __init__(self, *, zone: str, bot_events_per_minute: int) -> None:
        self._con: DuckDBBackend = connect(memory_limit=DUCKDB_MEMORY, zone=zone)
        # A request's few hundred rows gain nothing from a second thread: the queries' fixed
        # cost grows with it (100 requests of 150 events, two runs each on the shared machine:
        # 53-57 ms of CPU a request on two threads, 37-48 ms on one), and the other core is
        # the live step's.
        self._con.con.execute("SET threads = 1")
        self._queries = {
            source: _queries(source, bot_events_per_minute=bot_events_per_minute)
            for source in SOURCES
        }
        self._lock = threading.Lock()

    def clean(self, posted: Sequence[Posted]) -> tuple[list[Kept], list[Rejected]]:
        """The posted rows batch cleaning keeps (typed), and the ones it quarantines."""
        kept: list[Kept] = []
        rejected: list[Rejected] = []
        with self._lock:
            for source in SOURCES:
                rows = [p for p in posted if p.source == source]
                if rows:
                    more_kept, more_rejected = self._clean_source(source, rows)
                    kept += more_kept
                    rejected += more_rejected
        return kept, rejected

    def _clean_source(
        self, source: str, rows: Sequence[Posted]
    ) -> tuple[list[Kept], list[Rejected]]:
        columns = CONTRACT[source].columns
        text = {ROW: [p.position + 1 for p in rows]} | {
            c: [p.fields[c] for p in rows] for c in columns
        }
        duck = self._con.con
        queries = self._queries[source]
        duck.register(f"posted_{source}", pa.table(text, schema=_text_schema(columns)))
        try:
            marks = duck.execute(queries.marks).arrow().read_all()
            duck.register(f"posted_{source}_marks", marks)
            values = duck.execute(queries.typed).arrow().read_all().to_pylist()
        finally:
            duck.unregister(f"posted_{source}")
            duck.unregister(f"posted_{source}_marks")
        reasons = dict(zip(marks[ROW].to_pylist(), marks["_reason"].to_pylist(), strict=True))
        by_row = {p.position + 1: p for p in rows}
        rejected = [
            _rejected(by_row[row], reason) for row, reason in sorted(reasons.items()) if reason
        ]
        good = sorted(row for row, reason in reasons.items() if reason is None)
        if len(values) != len(good):
            raise RuntimeError(f"{source}: {len(good)} rows kept but {len(values)} typed")
        kept = [Kept(row - 1, source, value) for row, value in zip(good, values, strict=True)]
        return kept, rejected

    def close(self) -> None:
        self._con.disconnect()


def _text_schema(columns: Sequence[str]) -> pa.Schema:
    return pa.schema([(ROW, pa.int64()), *((c, pa.string()) for c in columns)])


def _rejected(posted: Posted, reason: str) -> Rejected:
    return Rejected(posted.position, posted.source, reason, _field(posted, reason), posted.raw)


def _field(posted: Posted, reason: str) -> str | None:
    if reason == "bot_rate":
        return "device_id" if posted.fields.get("device_id") else "user_id"
    return FIELD_OF_REASON.get(reason)
